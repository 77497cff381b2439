// nodewarden_packet_drops_total without Prometheus: peers folded into bounded namespace labels, the
// cap on label sets (excess under `_other_`, counted), a new set's first counts held back one scrape,
// and duplicates not counted. Real envelopes through the real codec and ingest into a real registry.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Registry } from 'prom-client';
import { encodeEnvelope, decodeEnvelope, type Envelope } from '../proto/codec.js';
import { subjectFor } from '../common/subjects.js';
import { applyEnvelope, SeenSet, type Stores } from '../collector/ingest/apply.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';
import { IpIndex } from '../collector/resolve/resolver.js';
import { collectorMetrics } from '../collector/metrics/index.js';
import { peerNamespace } from '../collector/metrics/drop-series.js';

const resolver = new IpIndex([
  { namespace: 'shop', name: 'web-0', node: 'n1', hostNetwork: false, podIPs: ['10.244.0.4'], hostIPs: ['10.4.0.4'] },
  {
    namespace: 'data',
    name: 'db-0',
    node: 'n2',
    hostNetwork: false,
    podIPs: ['10.244.1.6', 'fd00:10:244:1::6'],
    hostIPs: ['10.4.0.5'],
  },
  {
    namespace: 'kube-system',
    name: 'proxy',
    node: 'n2',
    hostNetwork: true,
    podIPs: ['10.4.0.5'],
    hostIPs: ['10.4.0.5'],
  },
]);

test('peers fold into namespace, node, unknown (private, unnamed) or external', () => {
  const ns = (ip: string) => peerNamespace(resolver.resolve(ip), ip);
  assert.is(ns('10.244.0.4'), 'shop');
  assert.is(ns('fd00:10:244:1::6'), 'data');
  assert.is(ns('10.4.0.5'), 'node', 'a node IP (and the host-network pod on it)');
  for (const ip of ['10.9.9.9', '172.20.1.1', '192.168.3.3', '100.64.0.9', '169.254.169.254', 'fd12::1', 'fe80::1'])
    assert.is(ns(ip), 'unknown', ip);
  for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700::1111']) assert.is(ns(ip), 'external', ip);
  assert.is(ns(''), 'unknown');
  assert.is(ns('not-an-ip'), 'unknown');
});

function rig(maxDropSeries: number, replaying = false) {
  const registry = new Registry();
  const stores: Stores = {
    drops: new DropStore(resolver),
    findings: new FindingStore(resolver),
    nodes: new NodeStore(60_000),
  };
  const m = collectorMetrics(registry, () => stores, resolver, { maxDropSeries });
  if (!replaying) m.caughtUp();
  const seen = new SeenSet();
  let seq = 0;
  const ingest = (
    node: string,
    drops: { src: string; dst: string; proto?: string; count: number }[],
    again?: number,
  ) => {
    const env: Envelope = {
      node,
      agentId: 'a0a0a0a0a0a0',
      seq: again ?? ++seq,
      sentMs: Date.now(),
      agentVersion: 'test',
      drops: {
        drops: drops.map((d) => ({
          prefix: 'calico-packet:',
          family: d.src.includes(':') ? 6 : 4,
          proto: d.proto ?? 'TCP',
          dstPort: 80,
          firstSeenMs: Date.now(),
          lastSeenMs: Date.now(),
          sample: 'x',
          ...d,
        })),
      },
    };
    const v = decodeEnvelope(encodeEnvelope(env), { subject: subjectFor(node, 'drops') });
    m.applied(v, applyEnvelope(v, stores, seen, Date.now()));
  };
  /** One scrape: series of nodewarden_packet_drops_total as "src>dst/proto@node" -> value. */
  const scrape = async () => {
    const text = await registry.metrics();
    const out: Record<string, number> = {};
    for (const x of text.matchAll(
      /^nodewarden_packet_drops_total\{src_namespace="([^"]*)",dst_namespace="([^"]*)",proto="([^"]*)",node="([^"]*)"\} (\d+)$/gm,
    ))
      out[`${x[1]}>${x[2]}/${x[3]}@${x[4]}`] = Number(x[5]);
    const overflow = Number(/^nodewarden_collector_drop_series_overflow_total (\d+)$/m.exec(text)?.[1]);
    return { series: out, overflow };
  };
  return { ingest, scrape, caughtUp: () => m.caughtUp() };
}

test('a new label set shows 0 for one scrape, then its count; later counts go straight in; duplicates never', async () => {
  const r = rig(100);
  r.ingest('n1', [
    { src: '10.244.0.4', dst: '10.244.1.6', count: 5 },
    { src: '10.244.0.4', dst: '8.8.8.8', proto: 'UDP', count: 2 },
  ]);
  assert.equal((await r.scrape()).series, {
    '_other_>_other_/_other_@_other_': 0,
    'shop>data/TCP@n1': 0,
    'shop>external/UDP@n1': 0,
  });
  r.ingest('n1', [{ src: '10.244.0.4', dst: '10.244.1.6', count: 1 }]); // before the next scrape: joins the held-back count
  assert.equal((await r.scrape()).series, {
    '_other_>_other_/_other_@_other_': 0,
    'shop>data/TCP@n1': 6,
    'shop>external/UDP@n1': 2,
  });
  r.ingest('n1', [{ src: '10.244.0.4', dst: '10.244.1.6', count: 4 }]);
  r.ingest('n1', [{ src: '10.244.0.4', dst: '10.244.1.6', count: 4 }], 3); // the same message again (seq 3)
  assert.is((await r.scrape()).series['shop>data/TCP@n1'], 10);
});

test('the start-up replay is published whole once caught up (never a partial total); after it, new sets are held back', async () => {
  const r = rig(100, true);
  r.ingest('n1', [{ src: '10.244.0.4', dst: '10.244.1.6', count: 500 }]);
  assert.is((await r.scrape()).series['shop>data/TCP@n1'], undefined, 'not exposed while replaying');
  r.ingest('n1', [{ src: '10.244.0.4', dst: '10.244.1.6', count: 20 }]);
  r.caughtUp();
  assert.is((await r.scrape()).series['shop>data/TCP@n1'], 520);
  r.ingest('n1', [{ src: '10.244.0.4', dst: '8.8.8.8', count: 3 }]);
  assert.is((await r.scrape()).series['shop>external/TCP@n1'], 0);
  assert.is((await r.scrape()).series['shop>external/TCP@n1'], 3);
});

test('past the cap new label sets count under _other_ (sums stay right), each record counted as overflow', async () => {
  const r = rig(2);
  r.ingest('n1', [
    { src: '10.244.0.4', dst: '10.244.1.6', count: 5 },
    { src: '10.244.0.4', dst: '10.9.9.9', count: 1 },
  ]);
  r.ingest('n2', [
    { src: '10.244.1.6', dst: '10.4.0.4', count: 7 },
    { src: '93.184.216.34', dst: '10.244.1.6', count: 3 },
  ]);
  await r.scrape();
  const s = await r.scrape();
  assert.equal(s.series, { '_other_>_other_/_other_@_other_': 10, 'shop>data/TCP@n1': 5, 'shop>unknown/TCP@n1': 1 });
  assert.is(s.overflow, 2);
  // a set admitted before the cap keeps counting
  r.ingest('n1', [{ src: '10.244.0.4', dst: '10.9.9.9', count: 2 }]);
  assert.is((await r.scrape()).series['shop>unknown/TCP@n1'], 3);
});

test.run();
