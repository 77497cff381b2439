// Journal records -> packet-drop parser -> outbox. Rejections are counted and logged once per reason.
import type { Logger } from '../common/log.js';
import { onceLogger } from '../common/log.js';
import { parseDropMessage, isReject, type Drop, type RejectReason } from './parse/packet-drop.js';
import type { JournalConsumer } from './sources/journal-consumer.js';

export function dropConsumer(
  prefixes: readonly string[],
  sink: (d: Drop, timeMs: number) => void,
  rejected: (reason: RejectReason) => void,
  log: Logger,
): JournalConsumer {
  const warn = onceLogger(log);
  return {
    name: 'packet-drops',
    literals: prefixes,
    onEntry(entry) {
      const r = parseDropMessage(entry.message, prefixes);
      if (r === undefined) return;
      if (isReject(r)) {
        rejected(r.reject);
        warn(`drop-reject:${r.reject}`, `packet drop line rejected (${r.reject}); further ones are only counted`, {
          detail: r.detail,
        });
        return;
      }
      sink(r, entry.timeMs ?? Date.now());
    },
  };
}
