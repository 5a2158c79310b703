/** The `lookalike` commands and their options (commander). */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ApiClient, DEFAULT_API, resolveApiUrl } from './client.js';
import { runClassify } from './commands/classify.js';
import { runEvaluate } from './commands/evaluate.js';
import { runImport } from './commands/import.js';
import { runCancelReembedding, runReembed } from './commands/reembed.js';
import { runRobustness } from './commands/robustness.js';
import { runSearch } from './commands/search.js';
import { parseFloatIn, parseIntList, parsePositiveInt, parseVote, parseWhere, type Where } from './format.js';

/** Wraps a parser so its error reads as commander's "option '...' argument '...' is invalid". */
function arg<T>(parse: (value: string, previous: T) => T) {
  return (value: string, previous: T): T => {
    try {
      return parse(value, previous);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function clientOf(command: Command): ApiClient {
  const { api } = command.optsWithGlobals<{ api?: string }>();
  return new ApiClient(resolveApiUrl(api));
}

/** Progress bars are on unless --no-progress; JSON output implies none on a pipe. */
const progressOption = () => new Option('--no-progress', 'no progress bar on stderr');

export function buildProgram(): Command {
  const program = new Command('lookalike')
    .description('Command-line client of the Lookalike image similarity and kNN classification API.')
    .version('0.1.0')
    .addOption(new Option('--api <url>', `API base URL (default: $LOOKALIKE_API or ${DEFAULT_API})`))
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ outputError: (s, write) => write(s) });

  program
    .command('import')
    .summary('upload a labelled dataset (folders, CSV or annotation JSON), skipping stored files')
    .description(
      'Upload a labelled dataset: a folder with one subfolder per label, a CSV manifest (path,label[,metadata...], paths relative to the CSV), or AI Hub style annotation JSON (a file or a folder). Files already stored in the collection (same sha256) are skipped, so an interrupted import resumes when run again.',
    )
    .argument('<source>', 'folder, .csv manifest or annotation .json')
    .requiredOption('-c, --collection <name>', 'collection to import into')
    .option(
      '--label-from <where>',
      'where labels come from: "folder" (the subfolder; the default for folders and annotation JSON), "annotation:<attribute>" (e.g. annotation:quality; the other attributes become metadata), or "column:<name>" of a CSV (default: its second column)',
    )
    .option('--concurrency <n>', 'parallel uploads', arg(parsePositiveInt('--concurrency', 1, 64)), 4)
    .addOption(progressOption())
    .option('--json', 'print the summary as JSON')
    .action(async (source: string, opts, command: Command) => {
      const summary = await runImport(clientOf(command), source, {
        collection: opts.collection,
        labelFrom: opts.labelFrom,
        concurrency: opts.concurrency,
        progress: opts.progress,
        json: opts.json,
      });
      if (summary.notAttempted !== undefined) process.exitCode = 130;
      else if (summary.failed.length > 0) process.exitCode = 1;
    });

  program
    .command('search')
    .summary('nearest stored images of a picture, with a contact sheet')
    .description('The stored images nearest to a picture (cosine distance), and a contact sheet of them.')
    .requiredOption('-q, --query <image>', 'the query picture (not stored)')
    .option('-k, --topk <k>', 'how many neighbours', arg(parsePositiveInt('--topk', 1, 100)), 5)
    .option('-c, --collection <name>', 'search this collection only')
    .option('-o, --out <sheet.png>', 'write a contact sheet: the query on the left, the results with label and distance on the right')
    .option('--tile <px>', 'tile size of the contact sheet', arg(parsePositiveInt('--tile', 32, 1024)), 160)
    .option('--json', 'print JSON')
    .action(async (opts, command: Command) => {
      await runSearch(clientOf(command), { query: opts.query, topk: opts.topk, collection: opts.collection, out: opts.out, tile: opts.tile, json: opts.json });
    });

  program
    .command('classify')
    .summary('kNN label of pictures (not stored)')
    .description('Classify pictures by their k nearest labelled images (nothing is stored). One line per picture.')
    .argument('<images...>', 'pictures to classify')
    .option('-c, --collection <name>', 'labelled images of this collection vote (default: all)')
    .option('-k, --k <k>', 'neighbours that vote', arg(parsePositiveInt('--k', 1, 100)), 5)
    .option('--vote <how>', 'majority (one vote each) or similarity (weighted by cosine similarity; the default)', arg(parseVote))
    .option('--where <key=value>', 'only neighbours whose metadata has this value vote (repeatable; key:=json for a number or boolean)', arg<Where>(parseWhere), {})
    .option('--min-similarity <s>', 'neighbours less similar than this do not vote; with none left the answer is "unknown" (-1..1)', arg(parseFloatIn('--min-similarity', -1, 1)))
    .option('--json', 'print JSON')
    .action(async (images: string[], opts, command: Command) => {
      const results = await runClassify(clientOf(command), images, {
        collection: opts.collection,
        k: opts.k,
        vote: opts.vote,
        where: opts.where,
        minSimilarity: opts.minSimilarity,
        json: opts.json,
      });
      if (results.some((r) => r.error)) process.exitCode = 1;
    });

  program
    .command('evaluate')
    .summary('leave-one-out accuracy of a collection, JSON report and confusion matrix')
    .description('Leave-one-out accuracy of kNN classification over a collection: per k, per label, confusion matrix and misclassified images.')
    .requiredOption('-c, --collection <name>', 'collection to evaluate')
    .option('-k, --k <list>', 'values of k, comma-separated', arg(parseIntList('--k', 1, 100)), [1, 5])
    .option('--group-by <key>', 'evaluate within each value of this metadata key (neighbours restricted to the same value)')
    .option('--vote <how>', 'majority or similarity', arg(parseVote))
    .option('--baseline', 'also run the raw-pixel baseline (exact cosine kNN on 32x32 pixels)')
    .option('-o, --out <report.json>', 'write the whole report as JSON')
    .option('--matrix <file>', 'write the confusion matrix: .svg, or .png (with several k: name.k1.svg, name.k5.svg, ...)')
    .option('--json', 'print JSON instead of text')
    .action(async (opts, command: Command) => {
      await runEvaluate(clientOf(command), {
        collection: opts.collection,
        k: opts.k,
        vote: opts.vote,
        groupBy: opts.groupBy,
        baseline: opts.baseline,
        out: opts.out,
        matrix: opts.matrix,
        json: opts.json,
      });
    });

  program
    .command('reembed')
    .summary('embed a collection again with the active model, or cancel a re-embedding')
    .description(
      'Embed every image of a collection again with the active model; with --wait, follow its progress live. With --cancel ID, stop a running re-embedding instead: for a model switch that is the rollback (the pending model retires, the active one stays; remove the new model\'s workers first).',
    )
    .option('-c, --collection <name>', 'collection to re-embed')
    .option('--cancel <id>', 'cancel this running re-embedding (roll back a model switch)')
    .option('-w, --wait', 'follow the progress (over WebSocket) until it finishes')
    .addOption(progressOption())
    .option('--json', 'print JSON')
    .action(async (opts, command: Command) => {
      if ((opts.collection === undefined) === (opts.cancel === undefined)) command.error('error: give either --collection <name> or --cancel <id>');
      if (opts.cancel !== undefined) {
        await runCancelReembedding(clientOf(command), opts.cancel, { json: opts.json });
        return;
      }
      const r = await runReembed(clientOf(command), { collection: opts.collection, wait: !!opts.wait, progress: opts.progress, json: opts.json });
      if (opts.wait && (r.state !== 'COMPLETE' || r.failed > 0)) process.exitCode = 1;
    });

  program
    .command('robustness')
    .summary('how far vectors move under resize, crop, rotation, flip, brightness, background')
    .description(
      'How far each picture\'s vector moves under resize 50%, centre crop 80%, rotation 15°, horizontal flip, brightness ±30% and a background change: cosine distance to the original and whether it is still the nearest. Uses a scratch collection, emptied at the end.',
    )
    .argument('<images...>', 'pictures to test')
    .option('-c, --collection <name>', 'scratch collection (default: a new robustness-... one)')
    .option('-o, --out <report.json>', 'write the report as JSON')
    .option('--json', 'print JSON instead of the table')
    .action(async (images: string[], opts, command: Command) => {
      const report = await runRobustness(clientOf(command), images, { collection: opts.collection, out: opts.out, json: opts.json });
      if (report.failed.length > 0 || report.rows.some((r) => r.error)) process.exitCode = 1;
    });

  return program;
}
