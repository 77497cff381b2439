import { isIPv4, isIPv6 } from 'node:net';

/**
 * Canonical text form of an IP as Kubernetes writes pod IPs: IPv4 dotted quad, IPv6 compressed per
 * RFC 5952 (lower case, no leading zeros, longest run of >= 2 zero groups as "::", first on a tie).
 * The kernel's LOG target prints IPv6 fully zero-padded. Returns undefined for anything that is not an IP.
 */
export function canonicalIp(text: string): string | undefined {
  if (isIPv4(text)) return text;
  if (!isIPv6(text)) return undefined;
  const groups = expandV6(text);
  // RFC 5952 section 5: IPv4-mapped addresses keep the dotted quad.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return `::ffff:${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}`;
  let bestStart = -1,
    bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function expandV6(text: string): number[] {
  let s = text;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  const lastPart = s.slice(lastColon + 1);
  if (lastPart.includes('.')) {
    // embedded IPv4 (e.g. ::ffff:10.0.0.1) -> two hex groups
    const o = lastPart.split('.').map(Number);
    tail = [(o[0] << 8) | o[1], (o[2] << 8) | o[3]];
    s = s.slice(0, lastColon + 1) + '0';
  }
  const [head, rest] = s.split('::');
  const h = head ? head.split(':').map((x) => parseInt(x, 16)) : [];
  let r = rest !== undefined && rest !== '' ? rest.split(':').map((x) => parseInt(x, 16)) : [];
  if (tail.length) {
    if (rest !== undefined) r = [...r.slice(0, -1), ...tail];
    else h.splice(h.length - 1, 1, ...tail);
  }
  if (rest === undefined) return h;
  return [...h, ...new Array(8 - h.length - r.length).fill(0), ...r];
}
