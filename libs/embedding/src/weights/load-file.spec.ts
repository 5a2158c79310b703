// Identifying a weights file (its tag, for the model id) reads and digests it without decoding;
// decoding comes later and only when asked. Tags are stored in databases: they must never change.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildDenseNet, DENSENET_TINY } from '../densenet.js';
import { resolveModelWeights } from '../model-runtime.js';
import { writeKerasH5Weights } from './keras-h5.js';
import { identifyWeightsFile, loadWeightsFile } from './load-file.js';
import { writeTfjsLayersModel } from './tfjs-layers.js';
import { WeightsError } from './types.js';

const digestTag = (...parts: Uint8Array[]) => {
  const sha = createHash('sha256');
  for (const part of parts) sha.update(part);
  return `weights-${sha.digest('hex').slice(0, 12)}`;
};

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof WeightsError && pattern.test(error.message));
}

describe('identifyWeightsFile', () => {
  let dir: string;
  let h5: string;
  let modelJson: string;
  /** model.json with its one weight group split over two shards listed second half first. */
  let splitJson: string;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'load-file-'));
    const model = buildDenseNet({ ...DENSENET_TINY, seed: 7 });
    h5 = path.join(dir, 'tiny.h5');
    await writeKerasH5Weights(model, h5);
    ({ modelJsonPath: modelJson } = await writeTfjsLayersModel(model, path.join(dir, 'tfjs')));
    model.dispose();

    const json = JSON.parse(await fs.readFile(modelJson, 'utf8')) as { weightsManifest: { paths: string[] }[] };
    const shard = await fs.readFile(path.join(dir, 'tfjs', json.weightsManifest[0]!.paths[0]!));
    const cut = Math.floor(shard.length / 8) * 4;
    await fs.mkdir(path.join(dir, 'split'));
    await fs.writeFile(path.join(dir, 'split', 'a.bin'), shard.subarray(cut));
    await fs.writeFile(path.join(dir, 'split', 'b.bin'), shard.subarray(0, cut));
    json.weightsManifest[0]!.paths = ['b.bin', 'a.bin'];
    splitJson = path.join(dir, 'split', 'model.json');
    await fs.writeFile(splitJson, JSON.stringify(json));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('.h5: the tag is the sha256 of the file, the same as a full load', async () => {
    const identified = await identifyWeightsFile(h5);
    const loaded = await loadWeightsFile(h5);
    assert.equal(identified.tag, digestTag(await fs.readFile(h5)));
    assert.equal(loaded.tag, identified.tag);
    assert.equal(identified.pretrained, false);
    assert.equal(identified.source, `file ${h5}`);
    assert.deepEqual(await identified.parse(), loaded.weights);
  });

  test('model.json: the tag digests model.json then its shards in manifest order, the same as a full load', async () => {
    const tfjsShard = await fs.readFile(path.join(dir, 'tfjs', 'group1-shard1of1.bin'));
    const whole = await identifyWeightsFile(modelJson);
    assert.equal(whole.tag, digestTag(await fs.readFile(modelJson), tfjsShard));
    assert.equal((await loadWeightsFile(modelJson)).tag, whole.tag);

    const split = await identifyWeightsFile(splitJson);
    const [a, b] = await Promise.all(['a.bin', 'b.bin'].map((f) => fs.readFile(path.join(dir, 'split', f))));
    assert.equal(split.tag, digestTag(await fs.readFile(splitJson), b!, a!));
    assert.equal((await loadWeightsFile(splitJson)).tag, split.tag);
    // Both layouts decode to the same weights.
    assert.deepEqual(await split.parse(), await whole.parse());
  });

  test('does not decode: bytes that are no HDF5 file, or a damaged one, identify and fail only when parsed', async () => {
    const notHdf5 = path.join(dir, 'not-hdf5.h5');
    await fs.writeFile(notHdf5, 'no HDF5 here');
    const identified = await identifyWeightsFile(notHdf5);
    assert.equal(identified.tag, digestTag(Buffer.from('no HDF5 here')));
    await rejectsWith(identified.parse(), /^Not an HDF5 file/);

    const bytes = await fs.readFile(h5);
    const cut = path.join(dir, 'cut.h5');
    await fs.writeFile(cut, bytes.subarray(0, bytes.length >> 1));
    await rejectsWith((await identifyWeightsFile(cut)).parse(), /truncated|HDF5/i);
  });

  test('does not decode: a manifest with an unsupported weight identifies and fails only when parsed', async () => {
    const json = JSON.parse(await fs.readFile(modelJson, 'utf8')) as { weightsManifest: { weights: { dtype: string }[] }[] };
    json.weightsManifest[0]!.weights[0]!.dtype = 'int32';
    const file = path.join(dir, 'tfjs', 'int32.json');
    await fs.writeFile(file, JSON.stringify(json));
    await rejectsWith((await identifyWeightsFile(file)).parse(), /has dtype int32, expected float32/);
  });

  test('what cannot be read or digested fails at once, with the errors a full load gives', async () => {
    await rejectsWith(identifyWeightsFile(path.join(dir, 'absent.h5')), /^Cannot read the weights file .*absent\.h5/);
    const noJson = path.join(dir, 'broken.json');
    await fs.writeFile(noJson, '{ not json');
    await rejectsWith(identifyWeightsFile(noJson), /is not valid JSON/);
    const noManifest = path.join(dir, 'no-manifest.json');
    await fs.writeFile(noManifest, '{}');
    await rejectsWith(identifyWeightsFile(noManifest), /no weightsManifest/);

    // The digest needs every shard: a missing one fails at identify, naming it.
    await fs.rm(path.join(dir, 'split', 'a.bin'));
    await rejectsWith(identifyWeightsFile(splitJson), /^Could not load weights shard a\.bin: /);
    await rejectsWith(loadWeightsFile(splitJson), /^Could not load weights shard a\.bin: /);
  });

  test('resolveModelWeights names the model from the digest and decodes once, on demand', async () => {
    const notHdf5 = path.join(dir, 'not-hdf5-2.h5');
    await fs.writeFile(notHdf5, 'still no HDF5');
    const undecodable = await resolveModelWeights({ ...DENSENET_TINY, seed: 1, weightsFile: notHdf5 });
    assert.equal(undecodable.modelId, `densenet-b1.1.1.1-g8-s32:${digestTag(Buffer.from('still no HDF5'))}`);
    await rejectsWith(undecodable.loadWeights!(), /^Not an HDF5 file/);

    const resolved = await resolveModelWeights({ ...DENSENET_TINY, seed: 1, weightsFile: h5 });
    const first = await resolved.loadWeights!();
    assert.equal(await resolved.loadWeights!(), first, 'the second call shares the first decode');
    assert.equal((await resolveModelWeights({ ...DENSENET_TINY, seed: 1 })).loadWeights, undefined);
  });
});
