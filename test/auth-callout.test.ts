// One node, one identity, against real components: kube-apiserver + etcd (test/support/kube.ts),
// the nats-server built from tools/nats-server with auth callout (test/support/nats-callout.ts),
// `nodewarden auth`, `nodewarden collector` and `nodewarden agent` as real processes. Agent tokens are
// real projected-style ServiceAccount tokens from the TokenRequest API, bound to pods on nodes.
// Run: node --import tsx test/auth-callout.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { createServer, createUser } from '@nats-io/nkeys';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { startCalloutNats, type CalloutNats } from './support/nats-callout.js';
import { startNats, type NatsServer } from './support/nats.js';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { startCli, runCli, getJson, type Proc } from './support/procs.js';
import { freePort, waitFor, sleep } from './support/wait.js';
import { encodeEnvelope, pb } from '../proto/codec.js';
import { STREAM } from '../common/subjects.js';
import { loadKubeconfig } from '../collector/kube/config.js';
import { KubeClient } from '../collector/kube/client.js';
import { tokenReviewer } from '../collector/auth/token-review.js';
import { serveAuthCallout } from '../collector/auth/service.js';
import { decodeJwt, encodeJwt, issuerFromSeed } from '../collector/auth/jwt.js';
import { createLogger } from '../common/log.js';
import { readFileSync } from 'node:fs';

if (!journalRemoteAvailable()) throw new Error('systemd-journal-remote missing: run npm test (installs it as root)');

const NS = 'nodewarden';
const AUTH_USER = 'nw-auth'; // the auth service's Kubernetes identity: tokenreviews create, nothing else
let cp: ControlPlane, nats: CalloutNats, auth: Proc, collector: Proc, journal: TestJournal;
let dir: string, api: string, authMetrics: string, admin: NatsConnection, jsm: JetStreamManager;
const procs: Proc[] = [];
const uids: Record<string, string> = {};
const tokens: Record<string, string> = {};

async function must(what: string, r: Promise<{ status: number; body: any }>): Promise<any> {
  const res = await r;
  assert.ok(
    res.status >= 200 && res.status < 300,
    `${what}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`,
  );
  return res.body;
}

/** A token from the TokenRequest API, bound to the pod (as the kubelet's projected volume gets it). */
async function podToken(pod: string, sa: string, audience = 'nodewarden'): Promise<string> {
  const body = await must(
    `token for ${pod}`,
    cp.request('POST', `/api/v1/namespaces/${NS}/serviceaccounts/${sa}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        audiences: [audience],
        expirationSeconds: 3600,
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod, uid: uids[pod] },
      },
    }),
  );
  return body.status.token as string;
}

const asAgent = (token: string, node: string) =>
  connect({ servers: nats.url, token, inboxPrefix: `_INBOX_${node}`, maxReconnectAttempts: 0, timeout: 5000 });
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (err: Error) => err.message,
  );
const tokenFile = (name: string, content: string) => {
  const f = join(dir, name);
  writeFileSync(f, content + '\n');
  return f;
};
const envelope = (node: string, seq: number, finding?: Record<string, unknown>) =>
  encodeEnvelope({
    node,
    agentId: 'test',
    seq,
    sentMs: Date.now(),
    agentVersion: 'test',
    ...(finding
      ? { finding: pb.Finding.create({ firstSeenMs: Date.now(), lastSeenMs: Date.now(), ...finding } as any) }
      : { heartbeat: {} }),
  });

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nw-auth-callout-'));
  journal = createTestJournal();
  await journal.append(['boot']);
  cp = await startControlPlane({ users: [{ name: AUTH_USER }] });
  await cp.createNamespace(NS);
  for (const sa of ['nodewarden-agent', 'someone-else'])
    await must(
      `sa ${sa}`,
      cp.request('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: sa },
      }),
    );
  await cp.createNode('node-a', '192.168.50.1');
  await cp.createNode('node-b', '192.168.50.2');
  for (const [pod, node, sa] of [
    ['agent-a', 'node-a', 'nodewarden-agent'],
    ['agent-b', 'node-b', 'nodewarden-agent'],
    ['agent-gone', 'node-a', 'nodewarden-agent'],
    ['intruder', 'node-b', 'someone-else'],
  ]) {
    uids[pod] = (await cp.createPod(NS, pod, { nodeName: node, serviceAccountName: sa })).uid;
  }
  await must(
    'clusterrole',
    cp.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'nw-tokenreview' },
      rules: [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }],
    }),
  );
  await must(
    'binding',
    cp.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'nw-tokenreview' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'nw-tokenreview' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: AUTH_USER }],
    }),
  );
  tokens.a = await podToken('agent-a', 'nodewarden-agent');
  tokens.b = await podToken('agent-b', 'nodewarden-agent');
  tokens.gone = await podToken('agent-gone', 'nodewarden-agent');
  tokens.wrongAudience = await podToken('agent-a', 'nodewarden-agent', 'https://kubernetes.default.svc');
  tokens.otherSa = await podToken('intruder', 'someone-else');

  nats = await startCalloutNats();
  const metricsPort = await freePort();
  authMetrics = `http://127.0.0.1:${metricsPort}/metrics`;
  auth = startCli([
    'auth',
    '--nats',
    nats.url,
    '--nats-user',
    nats.auth.user,
    '--nats-password-file',
    nats.auth.passwordFile,
    '--issuer-seed-file',
    nats.issuerSeedFile,
    '--kubeconfig',
    cp.kubeconfig(AUTH_USER),
    '--metrics-listen',
    `127.0.0.1:${metricsPort}`,
  ]);
  procs.push(auth);
  await auth.waitForLog(/auth: answering authorization requests/);
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  collector = startCli([
    'collector',
    '--nats',
    nats.url,
    '--nats-user',
    nats.collector.user,
    '--nats-password-file',
    nats.collector.passwordFile,
    '--listen',
    `127.0.0.1:${port}`,
  ]);
  procs.push(collector);
  await collector.waitForLog(/collector: consuming/, 30_000);
  admin = await connect({ servers: nats.url, user: nats.collector.user, pass: nats.collector.password });
  jsm = await jetstreamManager(admin);
});

test.after(async () => {
  await admin?.close().catch(() => undefined);
  for (const p of procs.reverse()) await p.stop('SIGKILL');
  await nats?.stop();
  await cp?.stop();
  journal?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the API server binds a pod token to its node: TokenReview names node-a', async () => {
  const r = await must(
    'tokenreview',
    cp.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: tokens.a, audiences: ['nodewarden'] },
    }),
  );
  assert.is(r.status.authenticated, true);
  assert.is(r.status.user.username, `system:serviceaccount:${NS}:nodewarden-agent`);
  assert.equal(r.status.user.extra['authentication.kubernetes.io/node-name'], ['node-a']);
});

test("node-a's token JetStream-publishes on node-a's subjects and gets an ack", async () => {
  const nc = await asAgent(tokens.a, 'node-a');
  try {
    const ack = await jetstream(nc, { timeout: 5000 }).publish('nodewarden.v1.node-a.heartbeat', envelope('node-a', 1));
    assert.is(ack.stream, STREAM);
    assert.ok(ack.seq > 0);
    const stored = await jsm.streams.getMessage(STREAM, { seq: ack.seq });
    assert.is(stored?.subject, 'nodewarden.v1.node-a.heartbeat');
  } finally {
    await nc.close();
  }
  // the NATS user expires when the token does
  const tokenExp = JSON.parse(Buffer.from(tokens.a.split('.')[1], 'base64url').toString()).exp as number;
  assert.match(
    auth.output(),
    new RegExp(`"node":"node-a","expiresAt":"${new Date(tokenExp * 1000).toISOString()}".*auth: agent admitted`),
  );
});

test("with node-a's token: node-b's subject, deleting the stream, reading the stream, creating a consumer are all refused", async () => {
  const nc = await asAgent(tokens.a, 'node-a');
  try {
    const js = jetstream(nc, { timeout: 2000 });
    assert.match(
      await refusal(
        js.publish(
          'nodewarden.v1.node-b.finding',
          envelope('node-b', 1, {
            kind: 'IPForwardingDisabled',
            severity: 'critical',
            active: false,
            message: 'cleared by node-a',
          }),
        ),
      ),
      /permission|timeout|TIMEOUT/i,
    );
    await waitFor(
      'the server logs the publish violation',
      () => /Publish Violation - Subject "nodewarden\.v1\.node-b\.finding"/.test(nats.output()),
      5000,
      50,
    );
    assert.is(
      await jsm.streams.getMessage(STREAM, { last_by_subj: 'nodewarden.v1.node-b.finding' }),
      null,
      "nothing stored on node-b's subject",
    );

    assert.match(
      await refusal(nc.request(`$JS.API.STREAM.DELETE.${STREAM}`, '', { timeout: 2000 })),
      /permission|timeout/i,
    );
    await waitFor(
      'the server logs the delete violation',
      () => nats.output().includes(`Publish Violation - Subject "$JS.API.STREAM.DELETE.${STREAM}"`),
      5000,
      50,
    );
    assert.is((await jsm.streams.info(STREAM)).config.name, STREAM);

    assert.match(
      await refusal(
        nc.request(
          `$JS.API.CONSUMER.CREATE.${STREAM}.spy`,
          JSON.stringify({ stream_name: STREAM, config: { name: 'spy', filter_subject: 'nodewarden.v1.>' } }),
          { timeout: 2000 },
        ),
      ),
      /permission|timeout/i,
    );
    const consumers: string[] = [];
    for await (const c of jsm.consumers.list(STREAM)) consumers.push(c.name);
    assert.not.ok(consumers.includes('spy'), consumers.join(','));

    const sub = nc.subscribe('nodewarden.v1.>');
    const seen = await Promise.race([
      (async () => {
        for await (const m of sub) return `received ${m.subject}`;
        return 'closed';
      })().catch((err: Error) => err.message),
      sleep(5000).then(() => 'nothing within 5 s'),
    ]);
    assert.match(seen, /permission/i);
    assert.match(nats.output(), /Subscription Violation - Subject "nodewarden\.v1\.>"/);
  } finally {
    await nc.close().catch(() => undefined);
  }
});

test("a finding for node-b sent on node-a's own subject is not taken for node-b", async () => {
  const nc = await asAgent(tokens.a, 'node-a');
  try {
    const js = jetstream(nc, { timeout: 5000 });
    await js.publish(
      'nodewarden.v1.node-a.finding',
      envelope('node-b', 2, { kind: 'ConntrackFull', severity: 'critical', active: true, message: 'forged by node-a' }),
    );
    await js.publish(
      'nodewarden.v1.node-a.finding',
      envelope('node-a', 3, {
        kind: 'ConntrackFull',
        severity: 'critical',
        active: true,
        message: 'node-a speaks for itself',
      }),
    );
  } finally {
    await nc.close();
  }
  const mine = await waitFor("node-a's own finding", async () =>
    (await getJson<{ items: { node: string; message: string }[] }>(`${api}/api/v1/findings?node=node-a`)).items.find(
      (f) => f.message === 'node-a speaks for itself',
    ),
  );
  assert.is(mine.node, 'node-a');
  const forged = await getJson<{ items: unknown[] }>(`${api}/api/v1/findings?node=node-b`);
  assert.equal(forged.items, []);
  await collector.waitForLog(/arrived on subject/, 5000);
});

test("refused: a wrong audience, another ServiceAccount, a garbage token, a deleted pod's token, no token", async () => {
  await cp.deletePod(NS, 'agent-gone');
  const cases: [string, string | undefined][] = [
    ['wrong audience', tokens.wrongAudience],
    ['other ServiceAccount', tokens.otherSa],
    ['garbage', 'not-a-token'],
    ['deleted pod', tokens.gone],
    ['no token', undefined],
  ];
  for (const [what, token] of cases) {
    const r = await refusal(
      connect({ servers: nats.url, ...(token ? { token } : {}), maxReconnectAttempts: 0, timeout: 5000 }),
    );
    assert.match(r, /Authorization Violation/i, `${what}: ${r}`);
  }
  // The refusal reaches the client before the service's log line reaches this process's pipe.
  for (const reason of ['token_rejected', 'wrong_service_account', 'no_token'])
    await auth.waitForLog(new RegExp(`"reason":"${reason}"`), 5000);
  assert.not.match(auth.output(), /"node":"node-b".*agent admitted/);
  assert.is(auth.child.exitCode, null, 'the auth service is still running');
  const metrics = await (await fetch(authMetrics, { signal: AbortSignal.timeout(5000) })).text();
  for (const outcome of ['granted', 'token_rejected', 'wrong_service_account', 'no_token']) {
    assert.match(metrics, new RegExp(`nodewarden_auth_requests_total\\{outcome="${outcome}"\\} [1-9]`), outcome);
  }
});

test("agents with a wrong-audience, garbage or deleted pod's token file log that their authorization failed, keep trying, and get in once the file holds a good token", async () => {
  const agents = (['wrongAudience', 'garbage', 'gone'] as const).map((which) => {
    const file = tokenFile(`${which}.token`, which === 'garbage' ? 'garbage' : tokens[which]);
    const p = startCli([
      'agent',
      '--node',
      'node-a',
      '--nats',
      nats.url,
      '--nats-token-file',
      file,
      '--state-dir',
      join(dir, `agent-${which}`),
      '--journal-dir',
      journal.dir,
      '--probes',
      'none',
      '--container-log-dir',
      '',
    ]);
    procs.push(p);
    return { which, file, p };
  });
  for (const { which, p } of agents) {
    await p.waitForLog(/nats: authorization failed/, 20_000);
    assert.match(p.output(), /Authorization Violation/, which);
    assert.not.match(p.output(), /nats: connected/, which);
  }
  await sleep(1500);
  for (const { which, p } of agents) assert.is(p.child.exitCode, null, `${which}: still running`);
  // the file is read at every connect: a renewed token is picked up without a restart
  writeFileSync(agents[1].file, tokens.a + '\n');
  await agents[1].p.waitForLog(/nats: connected/, 20_000);
  for (const { p } of agents) await p.stop();
});

test("end to end: an agent with its pod's token file delivers a drop that the collector shows", async () => {
  const agent = startCli([
    'agent',
    '--node',
    'node-a',
    '--nats',
    nats.url,
    '--nats-token-file',
    tokenFile('agent-a.token', tokens.a),
    '--state-dir',
    join(dir, 'agent-a'),
    '--journal-dir',
    journal.dir,
    '--probes',
    'none',
    '--container-log-dir',
    '',
  ]);
  procs.push(agent);
  await agent.waitForLog(/nats: connected/, 20_000);
  await agent.waitForLog(/journal: following/, 20_000);
  await journal.append([
    'calico-packet: IN=cali1a2b3c4d5e6 OUT=eth0 SRC=10.9.0.1 DST=10.9.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=40000 DPT=5432 WINDOW=64240 RES=0x00 SYN URGP=0 ',
  ]);
  const drop = await waitFor(
    'the drop at the collector',
    async () =>
      (
        await getJson<{ items: { node: string; dst: { ip: string; port?: number } }[] }>(`${api}/api/v1/drops`)
      ).items.find((d) => d.dst.ip === '10.9.0.2'),
    20_000,
    100,
  );
  assert.is(drop.node, 'node-a');
  assert.is(drop.dst.port, 5432);
  assert.not.match(agent.output(), /permission denied|authorization failed/);
  await agent.stop();
});

test("an agent's user expires (here after --max-user-ttl 10s) and it reconnects with the token now in its file, still delivering", async () => {
  await auth.stop();
  auth = startCli([
    'auth',
    '--nats',
    nats.url,
    '--nats-user',
    nats.auth.user,
    '--nats-password-file',
    nats.auth.passwordFile,
    '--issuer-seed-file',
    nats.issuerSeedFile,
    '--kubeconfig',
    cp.kubeconfig(AUTH_USER),
    '--max-user-ttl',
    '10s',
  ]);
  procs.push(auth);
  await auth.waitForLog(/auth: answering authorization requests/);
  // two pods of the agent on node-a, one after the other (a renewed token would do, but the old one
  // would stay valid; with its pod deleted, only a re-read file gets the agent back in)
  for (const pod of ['rot-1', 'rot-2'])
    uids[pod] = (await cp.createPod(NS, pod, { nodeName: 'node-a', serviceAccountName: 'nodewarden-agent' })).uid;
  const file = tokenFile('rotating.token', await podToken('rot-1', 'nodewarden-agent'));
  const agent = startCli([
    'agent',
    '--node',
    'node-a',
    '--nats',
    nats.url,
    '--nats-token-file',
    file,
    '--state-dir',
    join(dir, 'agent-rotating'),
    '--journal-dir',
    journal.dir,
    '--probes',
    'none',
    '--container-log-dir',
    '',
  ]);
  procs.push(agent);
  await agent.waitForLog(/nats: connected/, 20_000);
  writeFileSync(file, (await podToken('rot-2', 'nodewarden-agent')) + '\n');
  await cp.deletePod(NS, 'rot-1');
  await agent.waitForLog(/our NATS user expired/, 25_000);
  await agent.waitForLog(/our NATS user expired[\s\S]*nats: connected/, 20_000);
  const admitted = (auth.output().match(/"node":"node-a".*auth: agent admitted/g) ?? []).length;
  assert.ok(admitted >= 2, `admitted ${admitted} times`);
  await journal.append([
    'calico-packet: IN=cali1a2b3c4d5e6 OUT=eth0 SRC=10.9.0.7 DST=10.9.0.8 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=40000 DPT=6379 WINDOW=64240 RES=0x00 SYN URGP=0 ',
  ]);
  await waitFor(
    'the drop sent after the reconnect',
    async () =>
      (await getJson<{ items: { dst: { ip: string } }[] }>(`${api}/api/v1/drops`)).items.some(
        (d) => d.dst.ip === '10.9.0.8',
      ),
    20_000,
    100,
  );
  assert.not.match(
    agent.output(),
    /auth failed|authorization failed/,
    agent
      .output()
      .split('\n')
      .filter((l) => l.includes('nats'))
      .join('\n'),
  );
  await agent.stop();
});

test('invalid configuration of nodewarden auth and of the NATS credential flags exits 2 with one line', async () => {
  const userSeed = tokenFile('user.seed', new TextDecoder().decode(createUser().getSeed()));
  const kc = cp.kubeconfig(AUTH_USER);
  const cases: [string[], RegExp][] = [
    [['auth', '--kubeconfig', kc], /--issuer-seed-file is required/],
    [['auth', '--kubeconfig', kc, '--issuer-seed-file', userSeed], /must be an account seed/],
    [
      ['auth', '--kubeconfig', kc, '--issuer-seed-file', nats.issuerSeedFile, '--service-account', 'nodewarden-agent'],
      /--service-account: "nodewarden-agent" is not NAMESPACE:NAME/,
    ],
    [['auth', '--kubeconfig', kc, '--issuer-seed-file', nats.issuerSeedFile, '--max-user-ttl', '1s'], /at least 10s/],
    [['agent', '--nats-token', 'x', '--nats-token-file', userSeed], /exclude each other/],
    [['agent', '--nats-token-file', join(dir, 'missing.token')], /--nats-token-file: no such file/],
    [['collector', '--nats-password-file', userSeed], /a NATS password needs --nats-user/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args, undefined, 30_000);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('the service answers every request, malformed ones included, and counts each refusal', async () => {
  // A plain broker: here the test itself plays nats-server and sends what a server never would.
  const plain: NatsServer = await startNats();
  const nc = await connect({ servers: plain.url });
  const issuer = issuerFromSeed(readFileSync(nats.issuerSeedFile, 'utf8'));
  const client = new KubeClient(loadKubeconfig(cp.kubeconfig(AUTH_USER)));
  const svc = serveAuthCallout(nc, {
    issuer,
    decide: { serviceAccount: `${NS}:nodewarden-agent`, audience: 'nodewarden', account: 'APP', maxTtlSec: 3600 },
    review: tokenReviewer(client, 'nodewarden'),
    log: createLogger('auth-test', 'silent'),
  });
  try {
    for (const junk of [
      '',
      'garbage',
      'a.b.c',
      `${Buffer.from('{"typ":"JWT","alg":"ed25519-nkey"}').toString('base64url')}.e30.AAAA`,
    ]) {
      const r = await nc.request('$SYS.REQ.USER.AUTH', junk, { timeout: 3000 });
      assert.is(r.data.length, 0, `an empty reply (refused) to ${JSON.stringify(junk)}`);
    }
    const srv = createServer();
    const user = 'UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4';
    const req = (token?: string) =>
      encodeJwt(
        {
          aud: 'nats-authorization-request',
          sub: issuer.getPublicKey(),
          exp: Math.floor(Date.now() / 1000) + 5,
          nats: {
            type: 'authorization_request',
            version: 2,
            user_nkey: user,
            server_id: { id: srv.getPublicKey(), name: 'fake' },
            connect_opts: token ? { auth_token: token } : {},
            client_info: {},
          },
        },
        srv,
      );
    const answer = async (token?: string) =>
      decodeJwt((await nc.request('$SYS.REQ.USER.AUTH', req(token), { timeout: 5000 })).string(), 'account');
    const noToken = await answer();
    assert.is(noToken.iss, issuer.getPublicKey());
    assert.is(noToken.sub, user);
    assert.is(noToken.aud, srv.getPublicKey());
    assert.equal(noToken.nats, { type: 'authorization_response', version: 2, error: 'no_token' });
    assert.is(((await answer('garbage')) as { nats: { error: string } }).nats.error, 'token_rejected');
    const granted = (await answer(tokens.b)) as { nats: { jwt: string } };
    const userClaims = decodeJwt(granted.nats.jwt, 'account') as {
      sub: string;
      aud: string;
      nats: { pub: { allow: string[] } };
    };
    assert.equal(
      [userClaims.sub, userClaims.aud, userClaims.nats.pub.allow],
      [user, 'APP', ['nodewarden.v1.node-b.>']],
    );
    assert.equal(Object.fromEntries(svc.outcomes), {
      request_malformed: 3,
      request_bad_issuer: 1,
      no_token: 1,
      token_rejected: 1,
      granted: 1,
    });
  } finally {
    await svc.stop();
    await nc.close();
    client.close();
    await plain.stop();
  }
});

test.run();
