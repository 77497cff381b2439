// The contract every detector beside packet drops (probes, log signatures, runtime) implements, so
// the agent command lists their flags in --help groups, validates all of them before anything starts
// (ConfigError -> exit 2) and starts them the same way (docs/architecture.md#detector-contract).
import type { Registry } from 'prom-client';
import type { FlagSpecs } from '../common/flags.js';
import type { Logger } from '../common/log.js';
import type { RuntimeSnapshot } from '../proto/codec.js';
import type { FindingSink } from './findings.js';
import type { JournalConsumer } from './sources/journal-consumer.js';

export interface DetectorDeps {
  log: Logger;
  registry: Registry;
  stateDir: string;
  /** Sends the container runtime's view of the node to the collector. */
  publishRuntime(snapshot: RuntimeSnapshot): void;
}

export interface RunningDetector {
  stop(): Promise<void>;
  /** Journal readers the detector adds (they see every record the agent's journalctl reads). */
  journalConsumers: JournalConsumer[];
}

/** A detector ready to start (its flags already read). */
export type Detector = (sink: FindingSink, deps: DetectorDeps) => Promise<RunningDetector>;

export interface DetectorContract<C> {
  /** The --help group title. */
  title: string;
  flags: FlagSpecs;
  /** Flag values -> configuration; throws ConfigError on invalid values. */
  configure(values: Record<string, unknown>): C;
  start(cfg: C, sink: FindingSink, deps: DetectorDeps): Promise<RunningDetector>;
}

/** Reads the flags now (throwing ConfigError), starts later. */
export function bindDetector<C>(d: DetectorContract<C>, values: Record<string, unknown>): Detector {
  const cfg = d.configure(values);
  return (sink, deps) => d.start(cfg, sink, deps);
}
