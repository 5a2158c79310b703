/**
 * Builds and runs this project's Dockerfiles without a Docker engine (there is none here), so that
 * their own steps are executed and not only parsed: every RUN, COPY, ENV, ARG, WORKDIR and USER
 * of each stage, then the image's CMD and HEALTHCHECK as a container would run them.
 *
 * How: one mount namespace (`unshare -m`) holds an overlay per stage and per container. The base
 * image `node:<version>-bookworm-slim` is stood in for by a Debian 12 minbase root that
 * debootstrap makes from Debian's mirror, with this machine's node binary (the same version, or
 * the rehearsal refuses) and npm IMAGE_NPM_VERSION from the registry laid out as the official
 * image lays them out, and its `node` user; it is built once per machine and kept. A stage built
 * FROM an earlier one stacks on that stage's layer. Commands run in a chroot of the overlay, as
 * the Dockerfile's USER. The network is this machine's (npm ci reaches the registry; containers
 * reach services on 127.0.0.1). What this cannot show: BuildKit itself (caching, cache mounts),
 * the rest of the official image (yarn), and the CUDA images, whose bases are Ubuntu with CUDA.
 * Needs root, `unshare`, overlayfs and debootstrap; `unavailableReason()` says what is missing.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Ignore } from '@balena/dockerignore';
import { type Dockerfile, expandVariables, parseDockerfile, parseKeyValues } from './dockerfile.js';

const run = promisify(execFile);
// CommonJS whose types declare an ES default export: required, so it is the function at run time.
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as () => Ignore;

/** The one base image the rehearsal stands in for. */
const NODE_BASE = /^node:(\d+\.\d+\.\d+)-bookworm-slim(@sha256:[0-9a-f]{64})?$/;
/** The npm of Node 20's later LTS releases, as node:20.x images carry it (this machine has npm 11). */
export const IMAGE_NPM_VERSION = '10.8.2';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/**
 * Where the base holds this machine's extra TLS roots (NODE_EXTRA_CA_CERTS), for RUN steps that
 * reach the registry through an intercepting proxy, as Docker passes its proxy settings to RUN
 * without putting them in the image. Outside the Dockerfile's layers; containers do not get it.
 */
const BUILD_CA_FILE = '/usr/local/share/lookalike-rehearsal/extra-ca.crt';

/** A HEALTHCHECK's command; its timing options are not kept: the rehearsal polls at its own pace. */
export interface HealthCheck {
  command: string[];
}

export interface Image {
  /** Overlay upper directories, top layer first; this machine's root lies below them. */
  layers: string[];
  env: Record<string, string>;
  workdir: string;
  user: string;
  cmd: string[];
  healthcheck?: HealthCheck;
}

interface BuiltStage extends Image {
  name?: string;
  merged: string;
}

/** Why the rehearsal cannot run here, or null when it can. */
export function unavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (mount namespaces and overlayfs)';
  const probe = spawnSync('unshare', ['-m', '--propagation', 'private', 'true']);
  if (probe.status !== 0) return `unshare -m failed: ${probe.stderr?.toString().trim() || probe.error?.message}`;
  if (!fs.readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'the kernel has no overlayfs';
  if (!fs.existsSync(baseDir()) && spawnSync('sh', ['-c', 'command -v debootstrap']).status !== 0) return 'needs debootstrap (apt-get install debootstrap) to make the base image';
  return null;
}

export class Rehearsal {
  private containers: Container[] = [];
  private serial = 0;

  /** What RUN steps get beside the image's ENV and ARGs: this machine's extra TLS roots, if any. */
  private get buildEnv(): Record<string, string> {
    return fs.existsSync(path.join(this.base, BUILD_CA_FILE)) ? { NODE_EXTRA_CA_CERTS: BUILD_CA_FILE, npm_config_cafile: BUILD_CA_FILE } : {};
  }

  private get layers(): string {
    return path.join(this.dir, 'layers');
  }

  private constructor(
    readonly dir: string,
    private readonly holder: ChildProcess,
    /** The root that stands in for node:<this node>-bookworm-slim, the lowest layer of all. */
    private readonly base: string,
    private readonly log: (line: string) => void,
  ) {}

  /** A scratch directory and the process that holds the mount namespace open. */
  static async open(log: (line: string) => void = () => {}): Promise<Rehearsal> {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lookalike-rehearsal-'));
    // Holds the namespace until its stdin closes: when this process ends, however it ends.
    const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'read _'], { stdio: ['pipe', 'ignore', 'ignore'] });
    await new Promise((resolve, reject) => (holder.once('spawn', resolve), holder.once('error', reject)));
    const rehearsal = new Rehearsal(dir, holder, await standInBase(log), log);
    // The layers live on a tmpfs of their own, which goes with the namespace.
    await fsp.mkdir(rehearsal.layers);
    await rehearsal.ns('mount', ['-t', 'tmpfs', '-o', 'size=8g', 'tmpfs', rehearsal.layers]);
    return rehearsal;
  }

  /** Runs a command in the namespace, as root on the host's view (mounts, copies). */
  private async ns(cmd: string, args: string[]): Promise<string> {
    const { stdout } = await run('nsenter', ['-t', String(this.holder.pid), '-m', '--', cmd, ...args], { maxBuffer: 64 * 2 ** 20 });
    return stdout;
  }

  /** A fresh overlay over `layers` (top first) and the base, with this machine's /proc, /dev and /sys. */
  private async mountRoot(layers: string[], label: string): Promise<{ upper: string; merged: string }> {
    const base = path.join(this.layers, `${String(++this.serial).padStart(2, '0')}-${label}`);
    const [upper, work, merged] = ['upper', 'work', 'merged'].map((d) => path.join(base, d));
    await this.ns('mkdir', ['-p', upper, work, merged]);
    await this.ns('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...layers, this.base].join(':')},upperdir=${upper},workdir=${work}`, merged]);
    for (const d of ['proc', 'dev', 'sys']) await this.ns('mount', ['--rbind', `/${d}`, path.join(merged, d)]);
    return { upper, merged };
  }

  /**
   * Mounts a built stage again read-only, its layer now only a lower one: later stages and
   * containers stack on it (overlayfs wants no layer changed under a mount that stacks on it, and
   * can refuse an upper directory that another mount writes to), and COPY --from reads it here.
   */
  private async seal(stage: BuiltStage): Promise<void> {
    await this.ns('umount', ['-R', stage.merged]);
    await this.ns('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...stage.layers, this.base].join(':')}`, stage.merged]);
  }

  /**
   * Builds `dockerfile` up to `target` (default: its last stage) from `context`, honouring the
   * context's .dockerignore. Throws, with the step and its output, at the first step that fails.
   */
  async build(dockerfile: string, options: { context: string; target?: string; buildArgs?: Record<string, string> }): Promise<Image> {
    const parsed = parseDockerfile(dockerfile);
    const context = await this.filteredContext(options.context);
    const end = options.target ? parsed.stages.findIndex((s) => s.name === options.target) : parsed.stages.length - 1;
    if (end < 0) throw new Error(`${dockerfile}: no stage ${options.target}`);
    const built: BuiltStage[] = [];
    for (const [index, stage] of parsed.stages.slice(0, end + 1).entries()) {
      const label = `${path.basename(dockerfile, '.Dockerfile')}-${stage.name ?? index}`;
      const done = await this.buildStage(parsed, index, built, context, options.buildArgs ?? {}, label);
      await this.seal(done);
      built.push(done);
    }
    const { name: _name, merged: _merged, ...image } = built[built.length - 1];
    return image;
  }

  private async buildStage(parsed: Dockerfile, index: number, built: BuiltStage[], context: string, buildArgs: Record<string, string>, label: string): Promise<BuiltStage> {
    const stage = parsed.stages[index];
    const parent = built.find((b) => b.name === stage.base);
    if (!parent) checkBaseStandIn(stage.base);
    const { upper, merged } = await this.mountRoot(parent?.layers ?? [], label);
    const image: BuiltStage = {
      name: stage.name,
      merged,
      layers: [upper, ...(parent?.layers ?? [])],
      env: { ...(parent?.env ?? { PATH: DEFAULT_PATH, NODE_VERSION: process.versions.node }) },
      workdir: parent?.workdir ?? '/',
      user: parent?.user ?? 'root',
      cmd: parent?.cmd ?? [],
      healthcheck: parent?.healthcheck,
    };
    const args: Record<string, string> = {};
    const vars = () => ({ ...args, ...image.env });
    for (const { op, args: raw } of stage.instructions) {
      const step = `${label}: ${op} ${raw}`;
      this.log(step.length > 200 ? `${step.slice(0, 200)}…` : step);
      if (op === 'ARG') {
        const [k, ...v] = raw.split('=');
        args[k] = buildArgs[k] ?? (v.length ? v.join('=') : (parsed.args[k] ?? ''));
      } else if (op === 'ENV') {
        for (const [k, v] of parseKeyValues(raw)) image.env[k] = expandVariables(v, vars());
      } else if (op === 'WORKDIR') {
        image.workdir = path.posix.resolve(image.workdir, expandVariables(raw, vars()));
        await this.ns('mkdir', ['-p', path.join(merged, image.workdir)]);
      } else if (op === 'USER') {
        image.user = expandVariables(raw, vars());
      } else if (op === 'COPY') {
        await this.copy(expandVariables(raw, vars()), image, built, context);
      } else if (op === 'RUN') {
        const command = raw.replace(/^(--[a-z]+=\S+\s+)+/, '');
        const result = await this.exec(merged, image.user, image.workdir, { ...this.buildEnv, ...image.env, ...args }, ['/bin/sh', '-c', command]);
        if (result.code !== 0) throw new Error(`${step}\nexited ${result.code}:\n${result.output.slice(-4000)}`);
      } else if (op === 'CMD') {
        image.cmd = JSON.parse(raw);
      } else if (op === 'HEALTHCHECK') {
        image.healthcheck = parseHealthCheck(raw);
      } else if (op !== 'LABEL' && op !== 'EXPOSE') {
        throw new Error(`${step}: the rehearsal does not know ${op}`);
      }
    }
    return image;
  }

  /** The build context as the builder sends it: the directory less what .dockerignore names. */
  private async filteredContext(dir: string): Promise<string> {
    const ignoreFile = path.join(dir, '.dockerignore');
    const ig = dockerignore().add(fs.existsSync(ignoreFile) ? fs.readFileSync(ignoreFile, 'utf8') : '');
    const out = path.join(this.dir, `${String(++this.serial).padStart(2, '0')}-context`);
    await fsp.cp(dir, out, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => {
        const rel = path.relative(dir, src);
        return rel === '' || !ig.ignores(rel.split(path.sep).join('/'));
      },
    });
    return out;
  }

  /** COPY [--from=stage] src… dest: a directory's contents, or files, into the stage. */
  private async copy(raw: string, image: BuiltStage, built: BuiltStage[], context: string): Promise<void> {
    const words = raw.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    if (words.some((w) => w.startsWith('--') && !w.startsWith('--from='))) throw new Error(`COPY ${raw}: only --from is rehearsed`);
    const paths = words.filter((w) => !w.startsWith('--'));
    const dest = paths.pop()!;
    const source = from === undefined ? context : built.find((b) => b.name === from)?.merged;
    if (!source) throw new Error(`COPY ${raw}: no stage ${from}`);
    const target = path.join(image.merged, path.posix.resolve(image.workdir, dest));
    const intoDirectory = dest.endsWith('/') || dest === '.' || paths.length > 1;
    for (const p of paths) {
      const src = path.join(source, p);
      if ((await this.ns('stat', ['-c', '%F', src])).startsWith('directory')) {
        await this.ns('mkdir', ['-p', target]);
        await this.ns('cp', ['-a', `${src}/.`, `${target}/`]);
      } else {
        await this.ns('mkdir', ['-p', intoDirectory ? target : path.dirname(target)]);
        await this.ns('cp', ['-a', src, intoDirectory ? `${target}/` : target]);
      }
    }
  }

  /** A root's /etc file (the overlay is seen only inside the namespace), as colon-split rows. */
  private async etcRows(root: string, file: 'passwd' | 'group'): Promise<string[][]> {
    return (await this.ns('cat', [path.join(root, 'etc', file)])).split('\n').filter(Boolean).map((l) => l.split(':'));
  }

  /** `user` (name or uid, with an optional group) as uid:gid and its home, from the root's own /etc files. */
  private async account(root: string, user: string): Promise<{ ids: string; home: string }> {
    const [u, g] = user.split(':');
    const passwd = await this.etcRows(root, 'passwd');
    const entry = passwd.find((r) => r[0] === u || r[2] === u);
    if (!entry && !/^\d+$/.test(u)) throw new Error(`USER ${user}: no ${u} in /etc/passwd`);
    const uid = entry?.[2] ?? u;
    let gid = entry?.[3] ?? uid;
    if (g) {
      const group = (await this.etcRows(root, 'group')).find((r) => r[0] === g || r[2] === g);
      if (!group && !/^\d+$/.test(g)) throw new Error(`USER ${user}: no ${g} in /etc/group`);
      gid = group?.[2] ?? g;
    }
    return { ids: `${uid}:${gid}`, home: entry?.[5] ?? '/' };
  }

  /** The argv that runs `command` in `root` as `user`, in `workdir`, with exactly `env` (and HOME). */
  private async chrootArgv(root: string, user: string, workdir: string, env: Record<string, string>, command: string[]): Promise<string[]> {
    const { ids, home } = await this.account(root, user);
    const pairs = Object.entries({ HOME: home, ...env }).map(([k, v]) => `${k}=${v}`);
    return ['nsenter', '-t', String(this.holder.pid), '-m', '--', 'chroot', `--userspec=${ids}`, root, '/usr/bin/env', '-i', '-C', workdir, ...pairs, ...command];
  }

  private async exec(root: string, user: string, workdir: string, env: Record<string, string>, command: string[]): Promise<{ code: number | null; output: string }> {
    const [cmd, ...args] = await this.chrootArgv(root, user, workdir, env, command);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, output };
  }

  /** Starts a container of `image`: its own overlay, the image's user, workdir and env with `env` over it. */
  async start(image: Image, name: string, options: { env?: Record<string, string>; command?: string[] } = {}): Promise<Container> {
    const { merged } = await this.mountRoot(image.layers, `container-${name}`);
    const env = { ...image.env, ...options.env };
    const [cmd, ...args] = await this.chrootArgv(merged, image.user, image.workdir, env, options.command ?? image.cmd);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const container = new Container(name, child, (command) => this.exec(merged, image.user, image.workdir, env, command), image.healthcheck);
    this.containers.push(container);
    return container;
  }

  /** Lists a path inside an image, or null when it is absent there. */
  async listInImage(image: Image, inside: string): Promise<string[] | null> {
    const { merged } = await this.mountRoot(image.layers, 'inspect');
    try {
      return (await this.ns('ls', ['-A', path.join(merged, inside)])).split('\n').filter(Boolean);
    } catch {
      return null;
    }
  }

  /** Kills what is still running, drops the namespace (and with it every mount) and the files. */
  async close(): Promise<void> {
    for (const c of this.containers) c.kill('SIGKILL');
    await Promise.all(this.containers.map((c) => c.exited));
    this.holder.stdin!.end();
    await new Promise((resolve) => (this.holder.exitCode !== null || this.holder.signalCode !== null ? resolve(null) : this.holder.once('exit', resolve)));
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}

export class Container {
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
    private readonly execInside: (command: string[]) => Promise<{ code: number | null; output: string }>,
    private readonly healthcheck: HealthCheck | undefined,
  ) {
    process.stdout!.on('data', (d: Buffer) => this.output.push(d.toString()));
    process.stderr!.on('data', (d: Buffer) => this.output.push(d.toString()));
    this.exited = new Promise((resolve) => process.on('close', (code, signal) => resolve({ code, signal })));
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** The uid the container's process runs as (nsenter, chroot and env exec into it: one pid). */
  uid(): number {
    const line = fs.readFileSync(`/proc/${this.process.pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'))!;
    return Number(line.split(/\s+/)[1]);
  }

  /**
   * Runs the image's HEALTHCHECK command until it passes, as Docker would mark the container
   * healthy, but polling every `everyMs` rather than the image's interval. Throws when the
   * container exits first, or after `timeoutMs`, with the container's output.
   */
  async healthy(timeoutMs: number, everyMs = 1000): Promise<void> {
    if (!this.healthcheck) throw new Error(`${this.name}: the image has no HEALTHCHECK`);
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${this.name} exited before it was healthy:\n${this.output.join('').slice(-4000)}`);
      const result = await this.execInside(this.healthcheck.command);
      if (result.code === 0) return;
      last = `exit ${result.code} ${result.output}`;
      await new Promise((r) => setTimeout(r, everyMs));
    }
    throw new Error(`${this.name} not healthy after ${timeoutMs} ms (last check: ${last}):\n${this.output.join('').slice(-4000)}`);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.process.kill(signal);
  }
}

function parseHealthCheck(raw: string): HealthCheck {
  const m = /^(?:--[a-z-]+=\S+\s+)*CMD\s+(.*)$/.exec(raw);
  if (!m) throw new Error(`HEALTHCHECK ${raw}: expected options, then CMD`);
  return { command: m[1].trim().startsWith('[') ? (JSON.parse(m[1]) as string[]) : ['/bin/sh', '-c', m[1]] };
}

/** Refuses a base the rehearsal cannot stand in for: node:X-bookworm-slim, X this machine's node. */
function checkBaseStandIn(base: string): void {
  const m = NODE_BASE.exec(base);
  if (!m) throw new Error(`FROM ${base}: the rehearsal stands in for node:<this node>-bookworm-slim only`);
  if (m[1] !== process.versions.node) throw new Error(`FROM ${base}: this machine runs node ${process.versions.node}, not ${m[1]}`);
}

function baseDir(): string {
  return path.join(os.tmpdir(), `lookalike-rehearsal-base-bookworm-node${process.versions.node}-npm${IMAGE_NPM_VERSION}`);
}

/** The first Debian mirror this machine's apt uses (the one place Debian's packages come from here). */
function debianMirror(): string {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const m = /^URIs:\s*(\S+\/debian)\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s+bookworm\s/m.exec(text);
    if (m) return m[1];
  }
  return 'http://deb.debian.org/debian';
}

/**
 * node:<this node>-bookworm-slim, made here: Debian 12 minbase, node in /usr/local/bin, npm in
 * /usr/local/lib/node_modules, the `node` user (uid 1000), as the official image's Dockerfile
 * lays them out. Made once (about 30 s and 40 MB from Debian's mirror) and kept in the temporary
 * directory; a marker file written last says it is whole.
 */
async function standInBase(log: (line: string) => void): Promise<string> {
  const dir = baseDir();
  const marker = path.join(dir, '.lookalike-base-complete');
  if (!fs.existsSync(marker)) await makeStandInBase(dir, marker, log);
  // Every time: the machine's extra roots may have changed since the base was made.
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  await fsp.rm(path.join(dir, BUILD_CA_FILE), { force: true });
  if (ca && fs.existsSync(ca)) {
    await fsp.mkdir(path.dirname(path.join(dir, BUILD_CA_FILE)), { recursive: true });
    await fsp.copyFile(ca, path.join(dir, BUILD_CA_FILE));
  }
  return dir;
}

async function makeStandInBase(dir: string, marker: string, log: (line: string) => void): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true });
  const mirror = debianMirror();
  log(`base: debootstrap --variant=minbase bookworm ${dir} ${mirror}`);
  // In a mount namespace of its own: what debootstrap mounts in the new root goes with it.
  await run('unshare', ['-m', '--propagation', 'private', 'debootstrap', '--variant=minbase', 'bookworm', dir, mirror], { maxBuffer: 64 * 2 ** 20 });
  log(`base: node ${process.versions.node} from this machine, npm ${IMAGE_NPM_VERSION} from the registry`);
  await fsp.mkdir(path.join(dir, 'usr/local/bin'), { recursive: true });
  await fsp.copyFile(process.execPath, path.join(dir, 'usr/local/bin/node'));
  const pack = await fsp.mkdtemp(path.join(os.tmpdir(), 'lookalike-npm-pack-'));
  try {
    const { stdout } = await run('npm', ['pack', `npm@${IMAGE_NPM_VERSION}`, '--pack-destination', pack, '--silent'], { cwd: pack });
    const npmDir = path.join(dir, 'usr/local/lib/node_modules/npm');
    await fsp.mkdir(npmDir, { recursive: true });
    await run('tar', ['-xzf', path.join(pack, stdout.trim().split('\n').pop()!), '-C', npmDir, '--strip-components=1', '--no-same-owner']);
  } finally {
    await fsp.rm(pack, { recursive: true, force: true });
  }
  await fsp.symlink('../lib/node_modules/npm/bin/npm-cli.js', path.join(dir, 'usr/local/bin/npm'));
  await fsp.symlink('../lib/node_modules/npm/bin/npx-cli.js', path.join(dir, 'usr/local/bin/npx'));
  await run('chroot', [dir, '/bin/sh', '-c', 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node']);
  // Docker gives a container the host's resolver; here the base keeps this machine's.
  await fsp.copyFile('/etc/resolv.conf', path.join(dir, 'etc/resolv.conf'));
  const { stdout: versions } = await run('chroot', [dir, '/usr/bin/env', '-i', `PATH=${DEFAULT_PATH}`, 'HOME=/root', 'sh', '-c', 'node --version && npm --version']);
  if (versions.split('\n')[1]?.trim() !== IMAGE_NPM_VERSION || versions.split('\n')[0].trim() !== `v${process.versions.node}`) throw new Error(`base: unexpected versions ${versions}`);
  await fsp.writeFile(marker, `${new Date().toISOString()} ${mirror}\n`);
}
