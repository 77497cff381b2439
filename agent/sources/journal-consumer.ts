import type { LogEntry } from '../parse/log-line.js';

/**
 * A reader of journal records. The journal source JSON-parses a record only when its raw line
 * contains one of some consumer's literals, then hands the entry to each consumer whose literal
 * occurs in the MESSAGE — so one journalctl serves packet drops and every kernel signature.
 */
export interface JournalConsumer {
  name: string;
  literals: readonly string[];
  /**
   * FIELD=value: the records this consumer reads besides --journal-match (the agent ORs it in with
   * journalctl's "+"); it gets only those, and consumers without one never see them.
   */
  match?: string;
  onEntry(entry: LogEntry): void;
}
