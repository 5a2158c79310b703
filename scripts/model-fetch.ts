// `npm run model:fetch`: fetches and verifies the official Keras DenseNet121 weights into
// DATA_DIR/models ahead of time; offline, prints where to put the file by hand.
import { fetchVerified, KERAS_DENSENET121_NOTOP, offlineInstructions } from '@lookalike/embedding/weights-source';
import { loadConfig } from '@lookalike/shared/config';
import { modelCacheDir } from '@lookalike/worker/embedder';

const dir = modelCacheDir(loadConfig());
try {
  console.log(`Keras DenseNet121 weights ready: ${await fetchVerified(KERAS_DENSENET121_NOTOP, dir)}`);
} catch (error) {
  console.error(`${(error as Error).message}\n\n${offlineInstructions(KERAS_DENSENET121_NOTOP, dir)}`);
  process.exit(1);
}
