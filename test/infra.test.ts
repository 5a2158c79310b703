// Offline checks of the deployment files: the Kubernetes manifests (infra/k8s, base and overlays,
// built the way kustomize builds them), docker-compose.yml, the Dockerfiles and .dockerignore.
// Nothing here needs a cluster, Docker or the network. Where `kubectl` is installed, the overlays
// are also built by `kubectl kustomize` and compared with the build made here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@lookalike/shared/config';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { interpolate, readCompose } from './helpers/compose.js';
import { parseDockerfile, type Stage } from './helpers/dockerfile.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const K8S = path.join(ROOT, 'infra/k8s');
const OVERLAYS = ['dev', 'gpu'] as const;

type Obj = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// What the application reads: the keys of the zod schema in libs/shared/src/config.ts.

function configKeys(): Set<string> {
  const source = fs.readFileSync(path.join(ROOT, 'libs/shared/src/config.ts'), 'utf8');
  const body = source.slice(source.indexOf('.object({'), source.indexOf('.superRefine('));
  const keys = new Set([...body.matchAll(/^\s+([A-Z][A-Z0-9_]*):\s/gm)].map((m) => m[1]));
  assert.ok(keys.has('DATABASE_URL') && keys.has('REDIS_URL'), 'could not read the config schema keys');
  return keys;
}

/**
 * Keys the manifests already set for changes in flight: the worker's probe server
 * (apps/worker/src/http-server.ts) listens on WORKER_HTTP_PORT once main.ts wires it. A key here is
 * accepted while config.ts lacks it; drop it from this list once config.ts has it.
 */
const PENDING_CONFIG_KEYS = new Set<string>();

/** Environment read by something other than our config (named, with the reader). */
const NON_CONFIG_ENV: Record<string, string> = {
  TF_FORCE_GPU_ALLOW_GROWTH: 'libtensorflow (tfjs-node-gpu): allocate GPU memory as needed',
  TF_CPP_MIN_LOG_LEVEL: 'libtensorflow log level',
};

const CONFIG_KEYS = configKeys();

function unknownEnvNames(names: Iterable<string>): string[] {
  return [...new Set(names)].filter((n) => !CONFIG_KEYS.has(n) && !PENDING_CONFIG_KEYS.has(n) && !(n in NON_CONFIG_ENV)).sort();
}

/** A numeric default of the config schema, read from config.ts (`KEY: int(...).default(25_000)`). */
function configDefault(key: string): number | undefined {
  const source = fs.readFileSync(path.join(ROOT, 'libs/shared/src/config.ts'), 'utf8');
  const m = new RegExp(`^\\s+${key}:[^\\n]*\\.default\\(([0-9_* ]+)\\)`, 'm').exec(source);
  return m ? m[1].split('*').reduce((product, factor) => product * Number(factor.replace(/[_\s]/g, '')), 1) : undefined;
}

const DEFAULT_SHUTDOWN_TIMEOUT_MS = configDefault('SHUTDOWN_TIMEOUT_MS') ?? 30_000;
/** onShutdown() (libs/shared/src/shutdown.ts) gives the steps SHUTDOWN_TIMEOUT_MS + 5 s. */
const SHUTDOWN_MARGIN_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// Images

function splitImage(ref: string): { name: string; tag?: string; digest?: string } {
  const at = ref.indexOf('@');
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const nameTag = at >= 0 ? ref.slice(0, at) : ref;
  const slash = nameTag.lastIndexOf('/');
  const colon = nameTag.lastIndexOf(':');
  return colon > slash ? { name: nameTag.slice(0, colon), tag: nameTag.slice(colon + 1), digest } : { name: nameTag, digest };
}

/** A digest, or a tag that names a release (two numeric parts: 1.2, 0.8.1-pg17, RELEASE.2025-04-22…), never `latest`. */
function pinProblem(ref: string): string | null {
  const { tag, digest } = splitImage(ref);
  if (digest !== undefined) return /^sha256:[0-9a-f]{64}$/.test(digest) ? null : `${ref}: malformed digest`;
  if (tag === undefined) return `${ref}: no tag (means :latest)`;
  if (tag === 'latest') return `${ref}: :latest`;
  if (!/\d+[.-]\d+/.test(tag)) return `${ref}: tag ${tag} is not a release version (floats)`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// A kustomize build, for the features these overlays use. Anything else is refused loudly rather
// than built wrong; where kubectl exists the result is compared with `kubectl kustomize`.

function loadDocs(file: string): Obj[] {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  const out: Obj[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${path.relative(ROOT, file)}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass', 'StorageClass']);
const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images', 'patches', 'secretGenerator', 'configMapGenerator']);

function decodePointer(pointer: string): string[] {
  if (!pointer.startsWith('/')) throw new Error(`bad JSON pointer ${pointer}`);
  return pointer.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function applyJson6902(doc: Obj, ops: Obj[]): void {
  for (const op of ops) {
    const parts = decodePointer(op.path);
    const last = parts.pop()!;
    let parent: any = doc;
    for (const p of parts) {
      parent = Array.isArray(parent) ? parent[Number(p)] : parent?.[p];
      if (parent === undefined) throw new Error(`patch path ${op.path} does not exist`);
    }
    switch (op.op) {
      case 'add':
        if (Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, op.value);
        else parent[last] = op.value;
        break;
      case 'replace':
        if (Array.isArray(parent) ? parent[Number(last)] === undefined : !(last in parent)) throw new Error(`replace: ${op.path} does not exist`);
        if (Array.isArray(parent)) parent[Number(last)] = op.value;
        else parent[last] = op.value;
        break;
      case 'remove':
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else if (last in parent) delete parent[last];
        else throw new Error(`remove: ${op.path} does not exist`);
        break;
      default:
        throw new Error(`unsupported JSON patch op ${op.op}`);
    }
  }
}

/** Strategic merge of maps only (a list in a patch would need the type's merge keys: refused). */
function strategicMerge(target: Obj, patch: Obj, at = ''): void {
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) throw new Error(`unsupported directive ${key} at ${at}`);
    if (value === null) delete target[key];
    else if (Array.isArray(value)) throw new Error(`strategic merge of the list ${at}/${key} is not supported here: use a JSON6902 patch`);
    else if (typeof value === 'object' && typeof target[key] === 'object' && target[key] !== null && !Array.isArray(target[key])) strategicMerge(target[key], value, `${at}/${key}`);
    else target[key] = structuredClone(value);
  }
}

function podSpecOf(doc: Obj): Obj | undefined {
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(doc.kind)) return doc.spec?.template?.spec;
  if (doc.kind === 'CronJob') return doc.spec?.jobTemplate?.spec?.template?.spec;
  if (doc.kind === 'Pod') return doc.spec;
  return undefined;
}

function containersOf(doc: Obj): Obj[] {
  const spec = podSpecOf(doc);
  return spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])] : [];
}

function kustomizeBuild(dir: string): Obj[] {
  const kfile = path.join(dir, 'kustomization.yaml');
  const k = parseYaml(fs.readFileSync(kfile, 'utf8')) as Obj;
  for (const field of Object.keys(k)) {
    if (!KUSTOMIZATION_FIELDS.has(field)) throw new Error(`${path.relative(ROOT, kfile)}: field ${field} is not supported by this test's build`);
  }
  const resources: Obj[] = [];
  for (const entry of k.resources ?? []) {
    const target = path.resolve(dir, entry);
    if (!fs.existsSync(target)) throw new Error(`${path.relative(ROOT, kfile)}: resource ${entry} does not exist`);
    resources.push(...(fs.statSync(target).isDirectory() ? kustomizeBuild(target) : loadDocs(target)));
  }
  for (const [kind, generators] of [['ConfigMap', k.configMapGenerator], ['Secret', k.secretGenerator]] as const) {
    for (const g of generators ?? []) {
      if (g.options?.disableNameSuffixHash !== true) throw new Error(`${kind} generator ${g.name}: name hashes are not supported here`);
      if (g.envs || g.files || g.behavior) throw new Error(`${kind} generator ${g.name}: only literals are supported here`);
      const data: Record<string, string> = {};
      for (const literal of g.literals ?? []) {
        const eq = String(literal).indexOf('=');
        data[String(literal).slice(0, eq)] = String(literal).slice(eq + 1);
      }
      resources.push(
        kind === 'Secret'
          ? { apiVersion: 'v1', kind, metadata: { name: g.name }, type: g.type ?? 'Opaque', data: Object.fromEntries(Object.entries(data).map(([a, b]) => [a, Buffer.from(b).toString('base64')])) }
          : { apiVersion: 'v1', kind, metadata: { name: g.name }, data },
      );
    }
  }
  for (const p of k.patches ?? []) {
    if (p.options) throw new Error('patch options are not supported here');
    if (p.path !== undefined) {
      const file = path.resolve(dir, p.path);
      if (!fs.existsSync(file)) throw new Error(`${path.relative(ROOT, kfile)}: patch ${p.path} does not exist`);
      for (const patch of loadDocs(file)) {
        const matches = resources.filter((r) => r.kind === patch.kind && r.metadata?.name === patch.metadata?.name);
        if (matches.length !== 1) throw new Error(`patch ${p.path}: ${patch.kind}/${patch.metadata?.name} matches ${matches.length} resources`);
        strategicMerge(matches[0], patch);
      }
    } else {
      const target = p.target ?? {};
      for (const field of Object.keys(target)) if (!['kind', 'name'].includes(field)) throw new Error(`patch target field ${field} is not supported here`);
      const matches = resources.filter((r) => (!target.kind || r.kind === target.kind) && (!target.name || r.metadata?.name === target.name));
      if (matches.length === 0) throw new Error(`${path.relative(ROOT, kfile)}: patch target ${JSON.stringify(target)} matches nothing`);
      const ops = parseYaml(p.patch);
      if (!Array.isArray(ops)) throw new Error('inline strategic-merge patches are not supported here');
      for (const m of matches) applyJson6902(m, ops);
    }
  }
  if (k.namespace) {
    for (const r of resources) if (!CLUSTER_SCOPED.has(r.kind)) r.metadata = { ...r.metadata, namespace: k.namespace };
  }
  for (const image of k.images ?? []) {
    for (const r of resources) {
      for (const c of containersOf(r)) {
        const current = splitImage(c.image);
        if (current.name !== image.name) continue;
        const name = image.newName ?? current.name;
        if (image.digest) c.image = `${name}@${image.digest}`;
        else if (image.newTag) c.image = `${name}:${image.newTag}`;
        else c.image = `${name}${current.tag ? `:${current.tag}` : ''}${current.digest ? `@${current.digest}` : ''}`;
      }
    }
  }
  return resources;
}

/** Comparable form: sorted, Secret data decoded (kustomize wraps long base64 lines). */
function normalize(docs: Obj[]): Obj[] {
  return docs
    .map((d) => {
      const c = structuredClone(d);
      if (c.kind === 'Secret' && c.data) {
        c.data = Object.fromEntries(Object.entries(c.data).map(([key, v]) => [key, Buffer.from(String(v).replace(/\s/g, ''), 'base64').toString('utf8')]));
      }
      return c;
    })
    .sort((a, b) => `${a.kind}/${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(`${b.kind}/${b.metadata?.namespace}/${b.metadata?.name}`));
}

const built = Object.fromEntries(OVERLAYS.map((o) => [o, kustomizeBuild(path.join(K8S, 'overlays', o))])) as Record<(typeof OVERLAYS)[number], Obj[]>;

function namespaceOf(overlay: string): string {
  return (parseYaml(fs.readFileSync(path.join(K8S, 'overlays', overlay, 'kustomization.yaml'), 'utf8')) as Obj).namespace;
}

function byKind(docs: Obj[], kind: string): Obj[] {
  return docs.filter((d) => d.kind === kind);
}

function matchesSelector(selector: Record<string, string>, labels: Record<string, string> = {}): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function envOf(container: Obj, docs: Obj[]): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) {
      const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === from.configMapRef.name);
      for (const [k, v] of Object.entries(cm?.data ?? {})) env.set((from.prefix ?? '') + k, String(v));
    }
    if (from.secretRef) {
      const secret = docs.find((d) => d.kind === 'Secret' && d.metadata.name === from.secretRef.name);
      for (const k of Object.keys(secret?.data ?? {})) env.set((from.prefix ?? '') + k, undefined);
    }
  }
  for (const e of container.env ?? []) env.set(e.name, e.value);
  return env;
}

/** Example values of the out-of-band Secret (infra/k8s/README.md), for overlays that do not generate it. */
const OUT_OF_BAND_SECRET: Record<string, string> = {
  DATABASE_URL: 'postgres://lookalike:pass@db.example.internal:5432/lookalike?sslmode=require',
  REDIS_URL: 'rediss://:pass@redis.example.internal:6379',
  S3_ACCESS_KEY: 'AKIAEXAMPLE',
  S3_SECRET_KEY: 'example-secret',
  REDIS_ADDRESS: 'redis.example.internal:6379',
  REDIS_PASSWORD: 'pass',
};

/** The environment a container starts with: ConfigMap and Secret values filled in (`env` wins over `envFrom`). */
function podEnvOf(container: Obj, docs: Obj[]): Record<string, string> {
  const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
  const secretValues = (name: string): Record<string, string> => {
    const s = find('Secret', name);
    if (!s) return OUT_OF_BAND_SECRET;
    const decoded = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')]));
    return { ...decoded, ...(s.stringData ?? {}) };
  };
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const values = from.configMapRef ? (find('ConfigMap', from.configMapRef.name)?.data ?? {}) : from.secretRef ? secretValues(from.secretRef.name) : {};
    for (const [k, v] of Object.entries(values)) env[(from.prefix ?? '') + k] = String(v);
  }
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
    const value = e.valueFrom?.secretKeyRef ? secretValues(ref.name)[ref.key] : ref ? find('ConfigMap', ref.name)?.data?.[ref.key] : e.value;
    assert.ok(value !== undefined || e.valueFrom?.fieldRef || e.valueFrom?.resourceFieldRef, `${container.name}: ${e.name} resolves to nothing`);
    env[e.name] = String(value ?? 'from-the-downward-api');
  }
  return env;
}

function durationSeconds(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (!m) throw new Error(`unreadable duration ${v}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

// ---------------------------------------------------------------------------------------------

describe('infra/k8s: every file parses, every kustomization reference exists', () => {
  it('parses every YAML file under infra/k8s', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name));
        else if (/\.ya?ml$/.test(e.name)) files.push(path.join(d, e.name));
      }
    };
    walk(K8S);
    assert.ok(files.length >= 15, `only ${files.length} YAML files`);
    for (const f of files) {
      const docs = loadDocs(f);
      assert.ok(docs.length > 0, `${path.relative(ROOT, f)} is empty`);
      for (const d of docs) if (!f.endsWith('kustomization.yaml')) assert.ok(d.kind && d.metadata?.name, `${path.relative(ROOT, f)}: a document without kind or name`);
    }
  });

  it('every resource is referenced by a kustomization (no file left out of the build)', () => {
    const referenced = new Set<string>();
    const visit = (dir: string) => {
      const k = parseYaml(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Obj;
      for (const r of k.resources ?? []) {
        const t = path.resolve(dir, r);
        if (fs.statSync(t).isDirectory()) visit(t);
        else referenced.add(t);
      }
      for (const p of k.patches ?? []) if (p.path) referenced.add(path.resolve(dir, p.path));
    };
    for (const o of OVERLAYS) visit(path.join(K8S, 'overlays', o));
    for (const dir of [path.join(K8S, 'base'), ...OVERLAYS.map((o) => path.join(K8S, 'overlays', o))]) {
      for (const f of fs.readdirSync(dir)) {
        if (!/\.ya?ml$/.test(f) || f === 'kustomization.yaml') continue;
        assert.ok(referenced.has(path.join(dir, f)), `${path.relative(ROOT, path.join(dir, f))} is in no kustomization`);
      }
    }
  });

  it('builds the same as `kubectl kustomize` where kubectl is installed', (t) => {
    for (const o of OVERLAYS) {
      const run = spawnSync('kubectl', ['kustomize', path.join(K8S, 'overlays', o)], { encoding: 'utf8', timeout: 60_000 });
      if (run.error || run.status !== 0) {
        if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
          t.skip('kubectl is not installed');
          return;
        }
        assert.fail(`kubectl kustomize ${o} failed: ${run.stderr || run.error?.message}`);
      }
      const theirs = parseAllDocuments(run.stdout).map((d) => d.toJS()).filter(Boolean);
      assert.deepEqual(normalize(built[o]), normalize(theirs), `overlay ${o}: this test's build differs from kubectl kustomize`);
    }
  });
});

/**
 * What the API server's schema says of `doc`, or null when it is valid: the generated validators of
 * kubernetes-models (the Kubernetes OpenAPI schema) and @kubernetes-models/keda (KEDA's CRDs). They
 * check types, enums and required fields; like the OpenAPI schema they allow unknown fields, which
 * only a server's strict field validation (kubectl apply --validate=strict) would refuse.
 */
async function schemaProblem(doc: Obj): Promise<string | null> {
  const module = doc.apiVersion.startsWith('keda.sh/') ? `@kubernetes-models/keda/${doc.apiVersion}` : `kubernetes-models/${doc.apiVersion}`;
  const models = (await import(module)) as Record<string, new (data: Obj) => { validate(): void }>;
  const Model = models[doc.kind];
  if (!Model) return `no schema for ${doc.apiVersion} ${doc.kind}`;
  try {
    new Model(doc).validate();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

it('the schema check refuses what the API server would (a string for replicas, a missing container list, a ScaledObject trigger without metadata)', async () => {
  const worker = byKind(built.dev, 'Deployment')[0];
  const scaled = byKind(built.dev, 'ScaledObject')[0];
  const broken: Array<[Obj, RegExp]> = [
    [{ ...structuredClone(worker), spec: { ...structuredClone(worker.spec), replicas: 'two' } }, /spec\/replicas must be integer/],
    [(() => { const d = structuredClone(worker); delete d.spec.template.spec.containers; return d; })(), /must have required property containers/],
    [(() => { const d = structuredClone(scaled); delete d.spec.triggers[0].metadata; return d; })(), /triggers\/0 must have required property metadata/],
  ];
  for (const [doc, reason] of broken) assert.match((await schemaProblem(doc)) ?? 'valid', reason);
});

for (const overlay of OVERLAYS) {
  describe(`infra/k8s overlay ${overlay}`, () => {
    const docs = built[overlay];
    const deployments = byKind(docs, 'Deployment');
    const workloads = docs.filter((d) => podSpecOf(d));
    const namespace = namespaceOf(overlay);

    it('puts every namespaced resource in the overlay namespace, which it creates', () => {
      assert.ok(namespace, 'the overlay sets no namespace');
      assert.ok(byKind(docs, 'Namespace').some((n) => n.metadata.name === namespace), `no Namespace ${namespace}`);
      for (const d of docs) if (!CLUSTER_SCOPED.has(d.kind)) assert.equal(d.metadata.namespace, namespace, `${d.kind}/${d.metadata.name}`);
      const ids = docs.map((d) => `${d.kind}/${d.metadata.name}`);
      assert.equal(new Set(ids).size, ids.length, 'duplicate resources');
    });

    it('every object validates against its API schema (Kubernetes, KEDA): types, enums, required fields', async () => {
      for (const d of docs) {
        const problem = await schemaProblem(d);
        assert.equal(problem, null, `${d.kind}/${d.metadata.name}: ${problem}`);
      }
    });

    it('has api and worker Deployments, a Service, an HPA for the API, PDBs and KEDA ScaledObjects', () => {
      const names = new Set(deployments.map((d) => d.metadata.name));
      for (const n of ['lookalike-api', 'lookalike-worker']) assert.ok(names.has(n), `no Deployment ${n}`);
      if (overlay === 'gpu') assert.ok(names.has('lookalike-worker-gpu'), 'no GPU worker');
      assert.ok(byKind(docs, 'Service').some((s) => s.metadata.name === 'lookalike-api'));
      assert.ok(byKind(docs, 'HorizontalPodAutoscaler').some((h) => h.spec.scaleTargetRef.name === 'lookalike-api'));
      assert.ok(byKind(docs, 'Job').some((j) => j.metadata.name === 'lookalike-migrate'), 'no migration Job');
    });

    it('labels and selectors match: Deployments select their own pods and no one else\'s', () => {
      for (const d of deployments) {
        const selector = d.spec.selector.matchLabels;
        assert.ok(selector && Object.keys(selector).length > 0, `${d.metadata.name}: no selector`);
        assert.ok(matchesSelector(selector, d.spec.template.metadata.labels), `${d.metadata.name}: selector does not match its pod labels`);
        for (const other of deployments) {
          if (other !== d) assert.ok(!matchesSelector(selector, other.spec.template.metadata.labels), `${d.metadata.name} selects ${other.metadata.name}'s pods`);
        }
      }
    });

    it('Services and PDBs select the pods of exactly one workload; Service target ports are container ports', () => {
      for (const s of byKind(docs, 'Service')) {
        if (s.spec.type === 'ExternalName') {
          assert.ok(s.spec.externalName && !s.spec.externalName.endsWith('.invalid'), `${s.metadata.name}: the overlay must point it at a real host`);
          continue;
        }
        const selected = deployments.filter((d) => matchesSelector(s.spec.selector, d.spec.template.metadata.labels));
        assert.equal(selected.length, 1, `Service ${s.metadata.name} selects ${selected.length} Deployments`);
        const ports = containersOf(selected[0]).flatMap((c) => c.ports ?? []);
        for (const p of s.spec.ports) {
          const ok = typeof p.targetPort === 'string' ? ports.some((cp: Obj) => cp.name === p.targetPort) : ports.some((cp: Obj) => cp.containerPort === (p.targetPort ?? p.port));
          assert.ok(ok, `Service ${s.metadata.name}: targetPort ${p.targetPort} is no container port`);
        }
      }
      for (const pdb of byKind(docs, 'PodDisruptionBudget')) {
        const selected = deployments.filter((d) => matchesSelector(pdb.spec.selector.matchLabels, d.spec.template.metadata.labels));
        assert.equal(selected.length, 1, `PDB ${pdb.metadata.name} selects ${selected.length} Deployments`);
        assert.ok((pdb.spec.minAvailable === undefined) !== (pdb.spec.maxUnavailable === undefined), `PDB ${pdb.metadata.name}: one of minAvailable/maxUnavailable`);
      }
      for (const d of deployments) {
        assert.ok(
          byKind(docs, 'PodDisruptionBudget').some((p) => matchesSelector(p.spec.selector.matchLabels, d.spec.template.metadata.labels)),
          `${d.metadata.name} has no PodDisruptionBudget`,
        );
      }
    });

    it('each Deployment is scaled by exactly one of an HPA or a ScaledObject, and sets no replicas of its own', () => {
      const scalers = [...byKind(docs, 'HorizontalPodAutoscaler'), ...byKind(docs, 'ScaledObject')];
      for (const s of scalers) {
        assert.ok(deployments.some((d) => d.metadata.name === s.spec.scaleTargetRef.name), `${s.kind}/${s.metadata.name} targets a missing Deployment`);
      }
      for (const d of deployments) {
        const mine = scalers.filter((s) => s.spec.scaleTargetRef.name === d.metadata.name);
        assert.equal(mine.length, 1, `${d.metadata.name} has ${mine.length} autoscalers`);
        assert.equal(d.spec.replicas, undefined, `${d.metadata.name}: replicas would fight the autoscaler on every apply`);
      }
      const hpa = byKind(docs, 'HorizontalPodAutoscaler')[0];
      assert.ok(hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas >= hpa.spec.minReplicas);
    });

    it('every container has CPU and memory requests and a memory limit; Deployment containers have liveness and readiness probes on their ports', () => {
      for (const w of workloads) {
        for (const c of containersOf(w)) {
          const where = `${w.kind}/${w.metadata.name}/${c.name}`;
          assert.ok(c.resources?.requests?.cpu, `${where}: no cpu request`);
          assert.ok(c.resources?.requests?.memory, `${where}: no memory request`);
          assert.ok(c.resources?.limits?.memory, `${where}: no memory limit`);
          if (w.kind !== 'Deployment') continue; // a Job's container runs to completion: no probes
          for (const probe of ['livenessProbe', 'readinessProbe'] as const) {
            const p = c[probe];
            assert.ok(p, `${where}: no ${probe}`);
            const port = p.httpGet?.port ?? p.tcpSocket?.port;
            assert.ok(port !== undefined || p.exec, `${where}: ${probe} checks nothing`);
            if (port !== undefined) {
              const ok = typeof port === 'string' ? (c.ports ?? []).some((cp: Obj) => cp.name === port) : (c.ports ?? []).some((cp: Obj) => cp.containerPort === port);
              assert.ok(ok, `${where}: ${probe} port ${port} is not a container port`);
            }
          }
        }
      }
    });

    it('worker readiness is /readyz and liveness /healthz on WORKER_HTTP_PORT', () => {
      for (const d of deployments.filter((x) => x.metadata.name.startsWith('lookalike-worker'))) {
        const c = d.spec.template.spec.containers[0];
        const port = Number(envOf(c, docs).get('WORKER_HTTP_PORT'));
        const named = (c.ports as Obj[]).find((p) => p.name === c.readinessProbe.httpGet.port);
        assert.equal(named?.containerPort, port, `${d.metadata.name}: probe port is not WORKER_HTTP_PORT`);
        assert.equal(c.readinessProbe.httpGet.path, '/readyz');
        assert.equal(c.livenessProbe.httpGet.path, '/healthz');
      }
    });

    it('workers hold at least EMBED_BATCH jobs at once (WORKER_CONCURRENCY feeds the batcher)', (t) => {
      if (!CONFIG_KEYS.has('EMBED_BATCH')) return t.skip('no EMBED_BATCH in config.ts');
      for (const d of deployments.filter((x) => x.metadata.name.startsWith('lookalike-worker'))) {
        const env = envOf(d.spec.template.spec.containers[0], docs);
        const batch = Number(env.get('EMBED_BATCH') ?? configDefault('EMBED_BATCH'));
        // Unset: the worker holds 2 × EMBED_BATCH per model host.
        const concurrency = Number(env.get('WORKER_CONCURRENCY') ?? 2 * batch);
        assert.ok(concurrency >= batch, `${d.metadata.name}: WORKER_CONCURRENCY ${concurrency} < EMBED_BATCH ${batch}`);
      }
    });

    it('every image is pinned (a release tag or a digest, never latest)', () => {
      for (const w of workloads) for (const c of containersOf(w)) assert.equal(pinProblem(c.image), null, `${w.metadata.name}/${c.name}`);
      // A -dev tag is pushed again under the same name: with IfNotPresent a node keeps the old build.
      for (const w of workloads) {
        for (const c of containersOf(w)) {
          if (/-dev$/.test(splitImage(c.image).tag ?? '')) assert.equal(c.imagePullPolicy, 'Always', `${w.metadata.name}/${c.name}: ${c.image}`);
        }
      }
    });

    it('pods run as non-root without privilege escalation', () => {
      for (const w of workloads) {
        const spec = podSpecOf(w)!;
        assert.equal(spec.securityContext?.runAsNonRoot, true, `${w.metadata.name}: runAsNonRoot`);
        assert.ok(spec.securityContext?.runAsUser > 0, `${w.metadata.name}: runAsUser`);
        for (const c of containersOf(w)) assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${w.metadata.name}/${c.name}`);
      }
    });

    it('every environment variable is a key of the config schema (config.ts)', (t) => {
      for (const w of workloads) {
        for (const c of containersOf(w)) {
          assert.deepEqual(unknownEnvNames(envOf(c, docs).keys()), [], `${w.metadata.name}/${c.name} sets names the app does not read`);
        }
      }
      for (const cm of byKind(docs, 'ConfigMap')) assert.deepEqual(unknownEnvNames(Object.keys(cm.data ?? {})), [], `ConfigMap ${cm.metadata.name}`);
      for (const k of PENDING_CONFIG_KEYS) if (CONFIG_KEYS.has(k)) t.diagnostic(`${k} is in config.ts now: remove it from PENDING_CONFIG_KEYS`);
    });

    it('every container\'s environment is a valid configuration (loadConfig), as the pod would see it', () => {
      for (const w of workloads) {
        for (const c of containersOf(w)) {
          const where = `${w.kind}/${w.metadata.name}/${c.name}`;
          const env = podEnvOf(c, docs);
          assert.doesNotThrow(() => loadConfig(env), (e: Error) => assert.fail(`${where}: ${e.message}`));
          if (w.metadata.name === 'lookalike-api') {
            // Image.url is built on it: the default (http://localhost:PORT) is the pod's own loopback,
            // right only for dev's port-forward.
            assert.ok(env.PUBLIC_URL, `${where}: PUBLIC_URL unset: Image.url would be the pod's loopback`);
            if (overlay !== 'dev') assert.doesNotMatch(env.PUBLIC_URL, /^https?:\/\/(localhost|127\.)/, `${where}: PUBLIC_URL`);
          }
        }
      }
    });

    it('ConfigMap and Secret references resolve (the gpu overlay expects lookalike-secrets to exist out of band)', () => {
      const external = overlay === 'gpu' ? new Set(['lookalike-secrets']) : new Set<string>();
      const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
      const checkSecretKey = (name: string, key: string, where: string) => {
        if (external.has(name)) return;
        const s = find('Secret', name);
        assert.ok(s, `${where}: Secret ${name} is not in the build`);
        assert.ok(key in (s.data ?? {}) || key in (s.stringData ?? {}), `${where}: Secret ${name} has no key ${key}`);
      };
      for (const w of workloads) {
        for (const c of containersOf(w)) {
          const where = `${w.metadata.name}/${c.name}`;
          for (const from of c.envFrom ?? []) {
            if (from.configMapRef) assert.ok(find('ConfigMap', from.configMapRef.name), `${where}: ConfigMap ${from.configMapRef.name}`);
            if (from.secretRef && !external.has(from.secretRef.name)) assert.ok(find('Secret', from.secretRef.name), `${where}: Secret ${from.secretRef.name}`);
          }
          for (const e of c.env ?? []) {
            if (e.valueFrom?.secretKeyRef) checkSecretKey(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key, where);
            if (e.valueFrom?.configMapKeyRef) {
              const cm = find('ConfigMap', e.valueFrom.configMapKeyRef.name);
              assert.ok(cm && e.valueFrom.configMapKeyRef.key in cm.data, `${where}: ${e.name} from a missing ConfigMap key`);
            }
          }
        }
      }
      for (const so of byKind(docs, 'ScaledObject')) {
        for (const tr of so.spec.triggers) {
          const auth = find('TriggerAuthentication', tr.authenticationRef?.name);
          assert.ok(auth, `ScaledObject ${so.metadata.name}: TriggerAuthentication ${tr.authenticationRef?.name} is missing`);
          for (const ref of auth.spec.secretTargetRef) checkSecretKey(ref.name, ref.key, `TriggerAuthentication ${auth.metadata.name}`);
        }
      }
    });

    it('terminationGracePeriodSeconds outlasts the bounded shutdown (SHUTDOWN_TIMEOUT_MS + 5 s + preStop)', () => {
      for (const d of deployments) {
        const c = d.spec.template.spec.containers[0];
        const shutdownMs = Number(envOf(c, docs).get('SHUTDOWN_TIMEOUT_MS') ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
        const preStop = c.lifecycle?.preStop?.exec?.command;
        const preStopMs = preStop?.[0] === 'sleep' ? Number(preStop[1]) * 1000 : 0;
        const graceMs = (d.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
        assert.ok(graceMs > shutdownMs + SHUTDOWN_MARGIN_MS + preStopMs, `${d.metadata.name}: grace ${graceMs} ms <= ${shutdownMs} + ${SHUTDOWN_MARGIN_MS} + ${preStopMs}`);
      }
    });

    it('KEDA ScaledObjects: named redis triggers summed by a formula, a cool-down, sane bounds', () => {
      const scaled = byKind(docs, 'ScaledObject');
      assert.ok(scaled.length >= 1);
      for (const so of scaled) {
        const where = `ScaledObject ${so.metadata.name}`;
        const names = so.spec.triggers.map((tr: Obj) => tr.name);
        assert.ok(names.every((n: unknown) => typeof n === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(n)), `${where}: every trigger needs a formula-safe name`);
        const mod = so.spec.advanced?.scalingModifiers;
        assert.ok(mod?.formula && mod.target, `${where}: scalingModifiers.formula and target`);
        const used = mod.formula.split('+').map((s: string) => s.trim());
        assert.deepEqual([...used].sort(), [...names].sort(), `${where}: the formula must sum every trigger, each once`);
        assert.ok(so.spec.cooldownPeriod > 0, `${where}: cooldownPeriod`);
        assert.ok(so.spec.minReplicaCount >= 0 && so.spec.maxReplicaCount >= Math.max(1, so.spec.minReplicaCount), `${where}: bounds`);
        for (const tr of so.spec.triggers) {
          assert.equal(tr.type, 'redis', `${where}: ${tr.name}`);
          assert.ok(Number(tr.metadata.listLength) > 0, `${where}: ${tr.name} listLength`);
        }
      }
      // The CPU workers are the floor: the API's readiness waits for a registered model (a worker
      // registers it at start) and searches by image wait on a worker.
      const cpu = scaled.find((s) => s.spec.scaleTargetRef.name === 'lookalike-worker');
      assert.ok(cpu && cpu.spec.minReplicaCount >= 1, 'lookalike-worker needs minReplicaCount >= 1');
    });

    it('the migration Job runs scripts/migrate.ts from the API image, with retries and a deadline', () => {
      const job = byKind(docs, 'Job').find((j) => j.metadata.name === 'lookalike-migrate')!;
      const c = job.spec.template.spec.containers[0];
      assert.deepEqual(c.command, ['node', '--import', 'tsx', 'scripts/migrate.ts']);
      assert.ok(fs.existsSync(path.join(ROOT, 'scripts/migrate.ts')));
      const api = deployments.find((d) => d.metadata.name === 'lookalike-api')!;
      assert.equal(c.image, api.spec.template.spec.containers[0].image, 'migrate with the release being deployed');
      assert.ok(['OnFailure', 'Never'].includes(job.spec.template.spec.restartPolicy));
      assert.ok(job.spec.backoffLimit > 0 && job.spec.activeDeadlineSeconds > 0);
    });

    if (overlay === 'gpu') {
      it('the GPU worker asks for one GPU, selects GPU nodes and tolerates their taint', () => {
        const d = deployments.find((x) => x.metadata.name === 'lookalike-worker-gpu')!;
        const spec = d.spec.template.spec;
        const c = spec.containers[0];
        assert.equal(String(c.resources.limits['nvidia.com/gpu']), '1');
        const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
        assert.ok(Object.keys(spec.nodeSelector ?? {}).length > 0 || terms.length > 0, 'no GPU node selection');
        // A label only GPU feature discovery sets (on a running node) cannot bring a node up from zero.
        const keys = [...Object.keys(spec.nodeSelector ?? {}), ...terms.flatMap((t: Obj) => (t.matchExpressions ?? []).map((e: Obj) => e.key))];
        assert.ok(keys.some((k) => !k.startsWith('nvidia.com/')), 'GPU nodes selected only by a label that exists once a node runs');
        assert.ok(
          (spec.tolerations ?? []).some((t: Obj) => t.key === 'nvidia.com/gpu' && t.effect === 'NoSchedule'),
          'no toleration of the nvidia.com/gpu taint',
        );
        assert.ok(['onnx-cuda', 'tfjs-node-gpu'].includes(envOf(c, docs).get('MODEL_RUNTIME')!), 'MODEL_RUNTIME must name the GPU runtime the image carries');
        const so = byKind(docs, 'ScaledObject').find((s) => s.spec.scaleTargetRef.name === d.metadata.name)!;
        assert.equal(so.spec.minReplicaCount, 0, 'GPU workers scale from zero (see README for when to keep 1)');
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  const compose = readCompose(path.join(ROOT, 'docker-compose.yml')) as Obj;
  const services = compose.services as Record<string, Obj>;
  const appServices = ['migrate', 'api', 'worker', 'worker-gpu'];

  it('has the whole stack', () => {
    for (const s of ['postgres', 'redis', 'minio', 'minio-init', ...appServices]) assert.ok(services[s], `no service ${s}`);
  });

  it('pins every pulled image, Postgres being pgvector/pgvector on Postgres 17', () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.build) continue;
      assert.equal(pinProblem(interpolate(s.image)), null, name);
    }
    const pg = splitImage(services.postgres.image);
    assert.equal(pg.name, 'pgvector/pgvector');
    assert.match(pg.tag!, /pg17/);
  });

  it('Redis keeps an append-only file on a volume and never evicts (BullMQ)', () => {
    const cmd = services.redis.command.join(' ');
    assert.match(cmd, /--appendonly yes/);
    assert.match(cmd, /--maxmemory-policy noeviction/);
    assert.ok((services.redis.volumes as string[]).some((v) => v.endsWith(':/data')));
  });

  it('creates the MinIO bucket once MinIO is healthy', () => {
    assert.equal(services['minio-init'].depends_on.minio.condition, 'service_healthy');
    assert.match(services['minio-init'].command.join(' '), /mc mb --ignore-existing/);
  });

  it('health checks on the backing services', () => {
    for (const s of ['postgres', 'redis', 'minio']) assert.ok(services[s].healthcheck?.test, `${s}: no healthcheck`);
  });

  it('migrations run once: a one-shot service everything else waits for', () => {
    const m = services.migrate;
    assert.equal(m.restart, 'no');
    assert.deepEqual(m.command, ['node', '--import', 'tsx', 'scripts/migrate.ts']);
    assert.equal(m.depends_on.postgres.condition, 'service_healthy');
    for (const s of ['api', 'worker', 'worker-gpu']) {
      assert.equal(services[s].depends_on?.migrate?.condition, 'service_completed_successfully', `${s} must wait for migrate`);
    }
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.equal(pkg.scripts.migrate, 'tsx scripts/migrate.ts');
  });

  it('the API scales (`--scale api=2`): a host port range, no container_name', () => {
    for (const s of ['api', 'worker', 'worker-gpu']) assert.equal(services[s].container_name, undefined, `${s}: container_name forbids --scale`);
    const [ports] = services.api.ports as string[];
    const m = /^(\d+)-(\d+):4000$/.exec(interpolate(ports));
    assert.ok(m && Number(m[2]) - Number(m[1]) >= 1, `api ports ${ports} must be a range of at least 2 host ports`);
  });

  it('the GPU worker is under the gpu profile with an NVIDIA device reservation, built for a real target', () => {
    const g = services['worker-gpu'];
    assert.deepEqual(g.profiles, ['gpu']);
    const devices = g.deploy.resources.reservations.devices;
    assert.ok(devices.some((d: Obj) => d.driver === 'nvidia' && d.capabilities.includes('gpu') && (d.count === 1 || d.count === 'all' || d.device_ids)));
    const stages = parseDockerfile(path.join(ROOT, g.build.dockerfile)).stages.map((s) => s.name);
    assert.ok(stages.includes(interpolate(g.build.target)), `target ${g.build.target} is no stage`);
    for (const s of ['api', 'worker', 'migrate']) assert.equal(services[s].profiles, undefined);
  });

  it('app services build from existing Dockerfiles and set only config keys', () => {
    for (const name of appServices) {
      const s = services[name];
      assert.ok(fs.existsSync(path.join(ROOT, s.build.context, s.build.dockerfile)), `${name}: ${s.build.dockerfile}`);
      assert.deepEqual(unknownEnvNames(Object.keys(s.environment)), [], name);
      assert.ok(interpolate(s.environment.DATABASE_URL).startsWith('postgres://'), `${name}: DATABASE_URL`);
    }
  });

  it('every app service\'s environment (defaults interpolated) is a valid configuration (loadConfig)', () => {
    for (const name of appServices) {
      const env = Object.fromEntries(Object.entries(services[name].environment as Obj).map(([k, v]) => [k, interpolate(String(v))]));
      assert.doesNotThrow(() => loadConfig(env), (e: Error) => assert.fail(`${name}: ${e.message}`));
    }
  });

  it('no two services that build share an image name (parallel builds of one tag collide)', () => {
    const built = Object.entries(services).filter(([, s]) => s.build && s.image).map(([, s]) => interpolate(s.image));
    assert.equal(new Set(built).size, built.length, built.join(', '));
  });

  it('workers hold at least EMBED_BATCH jobs at once', (t) => {
    if (!CONFIG_KEYS.has('EMBED_BATCH')) return t.skip('no EMBED_BATCH in config.ts');
    for (const name of ['worker', 'worker-gpu']) {
      const env = services[name].environment;
      const batch = Number(interpolate(String(env.EMBED_BATCH ?? configDefault('EMBED_BATCH'))));
      const concurrency = env.WORKER_CONCURRENCY === undefined ? 2 * batch : Number(interpolate(String(env.WORKER_CONCURRENCY)));
      assert.ok(concurrency >= batch, `${name}: WORKER_CONCURRENCY ${concurrency} < EMBED_BATCH ${batch}`);
    }
  });

  it('stop_grace_period outlasts the bounded shutdown', () => {
    for (const name of ['api', 'worker', 'worker-gpu']) {
      const s = services[name];
      const shutdownMs = Number(interpolate(String(s.environment.SHUTDOWN_TIMEOUT_MS ?? DEFAULT_SHUTDOWN_TIMEOUT_MS)));
      const graceMs = durationSeconds(s.stop_grace_period ?? '10s') * 1000;
      assert.ok(graceMs > shutdownMs + SHUTDOWN_MARGIN_MS, `${name}: ${graceMs} ms <= ${shutdownMs} + ${SHUTDOWN_MARGIN_MS}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------

function envNames(stage: Stage): string[] {
  return stage.instructions.filter((i) => i.op === 'ENV').flatMap((i) => [...i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]));
}

describe('Dockerfiles', () => {
  const files = ['api', 'worker', 'worker-gpu'].map((n) => path.join(ROOT, 'docker', `${n}.Dockerfile`));

  for (const file of files) {
    const rel = path.relative(ROOT, file);
    const { stages } = parseDockerfile(file);
    const runtime = stages.filter((s) => s.instructions.some((i) => i.op === 'CMD'));

    it(`${rel}: multi-stage, every base image pinned or an earlier stage`, () => {
      assert.ok(stages.length >= 2, 'not multi-stage');
      const seen = new Set<string>();
      for (const s of stages) {
        if (!seen.has(s.base)) assert.equal(pinProblem(s.base), null, `FROM ${s.base}`);
        if (s.name) seen.add(s.name);
      }
    });

    it(`${rel}: runtime stages run node (PID 1) as a non-root user, with a HEALTHCHECK on a probe path`, () => {
      assert.ok(runtime.length >= 1);
      for (const s of runtime) {
        const users = s.instructions.filter((i) => i.op === 'USER');
        const user = users.at(-1)?.args.split(':')[0];
        assert.ok(user && user !== 'root' && user !== '0', `stage ${s.name}: runs as root`);
        const hc = s.instructions.find((i) => i.op === 'HEALTHCHECK');
        assert.ok(hc && /\/(healthz|readyz)/.test(hc.args), `stage ${s.name}: no HEALTHCHECK on /healthz or /readyz`);
        const cmd = JSON.parse(s.instructions.filter((i) => i.op === 'CMD').at(-1)!.args);
        assert.deepEqual(cmd.slice(0, 3), ['node', '--import', 'tsx'], `stage ${s.name}: CMD must be node itself (signals reach the app)`);
        assert.ok(fs.existsSync(path.join(ROOT, cmd[3])), `stage ${s.name}: ${cmd[3]} does not exist`);
        assert.deepEqual(unknownEnvNames(envNames(s)), [], `stage ${s.name}: ENV names`);
      }
    });
  }

  it('worker-gpu: targets onnx-cuda (default: last) on CUDA 12 + cuDNN, and tfjs-node-gpu on CUDA 11.2 + cuDNN 8', () => {
    const { stages, args } = parseDockerfile(files[2]);
    const onnx = stages.find((s) => s.name === 'onnx-cuda')!;
    const tfjs = stages.find((s) => s.name === 'tfjs-node-gpu')!;
    assert.ok(onnx && tfjs);
    assert.equal(stages.at(-1), onnx, 'onnx-cuda must be the last stage (the default target)');
    assert.match(onnx.base, /^nvidia\/cuda:12\.\d+\.\d+-cudnn[0-9]*-runtime-/);
    assert.equal(tfjs.base, 'nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04');
    assert.ok(envNames(tfjs).includes('TF_FORCE_GPU_ALLOW_GROWTH'));
    const text = fs.readFileSync(files[2], 'utf8');
    assert.match(text, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
    assert.match(text, /@tensorflow\/tfjs-node-gpu@\$\{TFJS_NODE_GPU_VERSION\}/);
    assert.equal(args.TFJS_NODE_GPU_VERSION, '4.22.0');
    for (const [s, runtime] of [[onnx, 'onnx-cuda'], [tfjs, 'tfjs-node-gpu']] as const) {
      assert.ok(s.instructions.some((i) => i.op === 'ENV' && i.args.includes(`MODEL_RUNTIME=${runtime}`)), `${s.name}: MODEL_RUNTIME=${runtime}`);
    }
  });

  it('.dockerignore keeps node_modules, .git and local data out, and lets in what the Dockerfiles copy', () => {
    const patterns = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const p of ['**/node_modules', '.git', '.data']) assert.ok(patterns.includes(p), `.dockerignore lacks ${p}`);
    for (const file of files) {
      for (const s of parseDockerfile(file).stages) {
        for (const i of s.instructions.filter((x) => x.op === 'COPY' && !x.args.includes('--from='))) {
          const sources = i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
          for (const src of sources) {
            assert.ok(fs.existsSync(path.join(ROOT, src)), `${path.relative(ROOT, file)}: COPY ${src} does not exist`);
            const top = src.replace(/^\.\//, '').split('/')[0];
            assert.ok(!patterns.includes(top) && !patterns.includes(src), `${path.relative(ROOT, file)}: COPY ${src} is excluded by .dockerignore`);
          }
        }
      }
    }
  });
});
