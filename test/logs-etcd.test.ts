// A real etcd (Debian etcd-server, zap logger, 1 MiB backend quota) filled until NOSPACE. Its real
// stderr, and the real etcdctl errors of the client filling it, are written in CRI format under a
// kubelet-shaped pods/ tree with a containers/ symlink dir -> EtcdNoSpace on both pods.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startLogWatch } from '../agent/logs/index.js';
import { metric, newRegistry, podLog, RuntimeWriter, tempDir, watchFlags } from './logs/helpers.js';
import { RecordingSink } from './support/sink.js';
import { freePort, waitFor } from './support/wait.js';
import { testLog } from './support/log.js';

const run = promisify(execFile);

function findBin(name: string): string {
  for (const d of ['/usr/bin', '/usr/local/bin', '/usr/sbin'])
    if (existsSync(path.join(d, name))) return path.join(d, name);
  throw new Error(`${name} not found: apt-get install -y etcd-server etcd-client`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

test('real etcd filled to its quota -> EtcdNoSpace on the etcd pod and on the client pod', async () => {
  const etcdBin = findBin('etcd');
  const etcdctl = findBin('etcdctl');
  const tmp = tempDir('etcd');
  const sink = new RecordingSink();
  const registry = newRegistry();
  let etcd: ChildProcess | undefined;
  const watch = await startLogWatch(watchFlags(tmp.dir), sink, {
    log: testLog,
    stateDir: path.join(tmp.dir, 'state'),
    registry,
  });
  try {
    // Created after the watcher started: new files are read from their start.
    const etcdPod = await podLog(tmp.dir, { namespace: 'kube-system', pod: 'etcd-node1', container: 'etcd' });
    const clientPod = await podLog(tmp.dir, { namespace: 'default', pod: 'etcd-filler', container: 'etcdctl' });
    const etcdLog = new RuntimeWriter(etcdPod.file);
    const clientLog = new RuntimeWriter(clientPod.file);

    const client = await freePort();
    const peer = await freePort();
    const endpoint = `http://127.0.0.1:${client}`;
    etcd = spawn(
      etcdBin,
      [
        '--logger=zap',
        '--log-outputs=stderr',
        '--name=nwtest',
        `--data-dir=${path.join(tmp.dir, 'etcd-data')}`,
        `--listen-client-urls=${endpoint}`,
        `--advertise-client-urls=${endpoint}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=nwtest=http://127.0.0.1:${peer}`,
        '--quota-backend-bytes=1048576',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // The runtime's job: every line etcd prints becomes a CRI line in its container log, in order.
    let etcdLines = 0;
    let chain = Promise.resolve();
    for (const [stream, src] of [
      ['stdout', etcd.stdout!],
      ['stderr', etcd.stderr!],
    ] as const) {
      readline.createInterface({ input: src }).on('line', (l) => {
        etcdLines++;
        chain = chain.then(() => etcdLog.line(stream, l));
      });
    }
    const exited = new Promise<never>((_, rej) =>
      etcd!.once('exit', (c) => rej(new Error(`etcd exited early with ${c}`))),
    );
    exited.catch(() => undefined);

    await Promise.race([
      exited,
      waitFor(
        'etcd to answer',
        async () =>
          run(etcdctl, [`--endpoints=${endpoint}`, 'endpoint', 'health'], { timeout: 3000 }).then(
            () => true,
            () => false,
          ),
        20_000,
        200,
      ),
    ]);

    // Fill until etcd refuses writes (bounded: 60 x 60 kB is far over the 1 MiB quota).
    const value = 'x'.repeat(60_000);
    let refusedAt = 0;
    let clientErrorLines = 0;
    for (let i = 1; i <= 60 && !refusedAt; i++) {
      try {
        const r = await run(
          etcdctl,
          [`--endpoints=${endpoint}`, '--command-timeout=5s', 'put', `/registry/events/k${i}`, value],
          { timeout: 10_000 },
        );
        await clientLog.line('stdout', r.stdout.trim());
      } catch (err) {
        const e = err as { stderr?: string; stdout?: string };
        for (const l of (e.stderr ?? '').split('\n').filter(Boolean)) {
          await clientLog.line('stderr', l);
          if (l.includes('mvcc: database space exceeded')) clientErrorLines++;
        }
        refusedAt = i;
      }
    }
    assert.ok(refusedAt > 5, `etcd refused a put after ${refusedAt} puts`);

    const onEtcd = await waitFor(
      'EtcdNoSpace on the etcd pod',
      () => sink.of('EtcdNoSpace').find((f) => f.pod?.uid === etcdPod.uid),
      15_000,
    );
    const onClient = await waitFor(
      'EtcdNoSpace on the client pod',
      () => sink.of('EtcdNoSpace').find((f) => f.pod?.uid === clientPod.uid),
      15_000,
    );
    await chain;

    assert.equal(onEtcd.pod, { namespace: 'kube-system', name: 'etcd-node1', uid: etcdPod.uid, container: 'etcd' });
    assert.is(onEtcd.severity, 'critical');
    assert.is(onEtcd.active, true);
    const logged = JSON.parse(onEtcd.evidence.line) as Record<string, string>;
    assert.equal([logged.msg, logged.alarm], ['alarm raised', 'NOSPACE'], "evidence is etcd's own zap line");
    assert.is(onEtcd.evidence.stream, 'stderr');
    assert.is(onEtcd.evidence.file, etcdPod.file);
    assert.match(onEtcd.message, /NOSPACE/);

    assert.equal(onClient.pod, { namespace: 'default', name: 'etcd-filler', uid: clientPod.uid, container: 'etcdctl' });
    assert.match(onClient.evidence.line, /mvcc: database space exceeded/);
    assert.is(onClient.message, 'Writes from etcdctl to etcd fail: mvcc: database space exceeded');

    // etcdctl printed the error more than once (retry warning + "Error:"): one finding per pod and kind.
    assert.ok(clientErrorLines >= 2, `etcdctl printed ${clientErrorLines} error lines`);
    await waitFor(
      'all client lines matched',
      async () =>
        (await metric(registry, 'nodewarden_agent_log_signature_matches_total', { kind: 'EtcdNoSpace' })) >=
        clientErrorLines + 1,
      5000,
    );
    assert.is(
      sink.of('EtcdNoSpace').filter((f) => f.pod?.uid === clientPod.uid).length,
      1,
      'de-duplicated per pod + kind',
    );
    assert.ok(
      (await metric(registry, 'nodewarden_agent_log_findings_suppressed_total', { kind: 'EtcdNoSpace' })) >=
        clientErrorLines - 1,
    );
    // Nothing else in real etcd / etcdctl output looks like a signature.
    assert.equal([...new Set(sink.findings.map((f) => f.kind))], ['EtcdNoSpace']);
    assert.ok(etcdLines > 10, `etcd wrote ${etcdLines} lines`);
    assert.is(await metric(registry, 'nodewarden_agent_container_log_rejected_lines_total'), 0);
  } finally {
    if (etcd) await stopChild(etcd);
    await watch.stop();
    tmp.cleanup();
  }
});

test.run();
