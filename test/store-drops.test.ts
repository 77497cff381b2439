// The collector's flow store behind GET /api/v1/drops: one flow per (node, prefix, src, dst, proto,
// port, ICMP type, interfaces), counts added up, the newest record's details shown, owners resolved at
// arrival (and again later for flows that arrived before the pod cache knew the pod), bounded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IpIndex } from '../collector/resolve/resolver.js';
import { DropStore } from '../collector/store/drops.js';
import type { PacketDrop } from '../proto/codec.js';

const T0 = Date.parse('2026-11-23T18:00:00Z');
const drop = (over: Partial<PacketDrop> = {}): PacketDrop => ({
  prefix: 'calico-packet:',
  family: 4,
  proto: 'TCP',
  src: '10.244.0.4',
  dst: '10.244.1.6',
  dstPort: 5432,
  count: 2,
  firstSeenMs: T0,
  lastSeenMs: T0 + 100,
  inIface: 'cali1a2b',
  outIface: 'eth0',
  sample: 'calico-packet: IN=cali1a2b … first',
  ...over,
});
const pods = [
  {
    namespace: 'shop',
    name: 'web-0',
    uid: 'u-web',
    node: 'n1',
    hostNetwork: false,
    podIPs: ['10.244.0.4'],
    hostIPs: ['10.4.0.1'],
  },
  {
    namespace: 'shop',
    name: 'db-0',
    uid: 'u-db',
    node: 'n2',
    hostNetwork: false,
    podIPs: ['10.244.1.6'],
    hostIPs: ['10.4.0.2'],
  },
];

test("repeats of a flow add up; the newest record's sample and ICMP code speak for it; optional fields only when set", () => {
  const s = new DropStore(new IpIndex(pods));
  s.add('n1', drop());
  s.add(
    'n1',
    drop({ count: 5, firstSeenMs: T0 - 1000, lastSeenMs: T0 + 2000, sample: 'calico-packet: IN=cali1a2b … newest' }),
  );
  s.add('n1', drop({ dstPort: 80 }));
  s.add(
    'n1',
    drop({ proto: 'ICMP', dstPort: undefined, icmpType: 3, icmpCode: 1, inIface: '', outIface: '', sample: '' }),
  );
  s.add(
    'n1',
    drop({ proto: 'ICMP', dstPort: undefined, icmpType: 3, icmpCode: 13, inIface: '', outIface: '', sample: '' }),
  );
  assert.is(s.size, 3);
  const { items, total } = s.query({ limit: 10 });
  assert.is(total, 3);
  const pg = items.find((f) => f.dst.port === 5432)!;
  assert.equal(pg, {
    node: 'n1',
    prefix: 'calico-packet:',
    proto: 'TCP',
    src: { ip: '10.244.0.4', pod: { namespace: 'shop', name: 'web-0', uid: 'u-web' } },
    dst: { ip: '10.244.1.6', port: 5432, pod: { namespace: 'shop', name: 'db-0', uid: 'u-db' } },
    count: 7,
    firstSeen: new Date(T0 - 1000).toISOString(),
    lastSeen: new Date(T0 + 2000).toISOString(),
    in: 'cali1a2b',
    out: 'eth0',
    sample: 'calico-packet: IN=cali1a2b … newest',
  });
  const icmp = items.find((f) => f.proto === 'ICMP')!;
  assert.equal(
    [icmp.count, icmp.icmpType, icmp.icmpCode, icmp.dst.port, 'in' in icmp, 'sample' in icmp],
    [4, 3, 13, undefined, false, false],
  );
  assert.equal(s.query({ namespace: 'shop', pod: 'db-0', limit: 10 }).total, 3);
  assert.equal(s.query({ node: 'n2', limit: 10 }).total, 0);
});

test('a flow that arrived before the pod cache knew its pods is named once it does; the count bound evicts the oldest written', () => {
  const index = new IpIndex([]);
  const s = new DropStore(index, { maxEntries: 10 });
  s.add('n1', drop());
  assert.is(s.query({ limit: 1 }).items[0].src.pod, undefined);
  index.replace(pods);
  assert.equal(s.query({ namespace: 'shop', pod: 'web-0', limit: 1 }).items[0].src.pod, {
    namespace: 'shop',
    name: 'web-0',
    uid: 'u-web',
  });
  for (let i = 1; i <= 10; i++) s.add('n1', drop({ dstPort: 1000 + i, lastSeenMs: T0 + 1000 * i }));
  assert.is(s.size, 10, '11 flows over a bound of 10: the oldest one went');
  assert.not.ok(s.query({ limit: 20 }).items.some((f) => f.dst.port === 5432));
});

test.run();
