// The agent's own AgentStateDirUnwritable finding: raised when the spool or checkpoint cannot be
// written (its data then waits in memory and would be lost with the process), cleared when a write
// works again and nothing waits in memory any more. Logged once per change, not per failed write.
import type { Logger } from '../../common/log.js';
import type { FindingReport } from '../findings.js';
import type { DiskFailure } from './seal-store.js';

export const STATE_DIR_FINDING = 'AgentStateDirUnwritable';

export class StateDirHealth {
  private failing?: DiskFailure;

  constructor(private readonly log: Logger) {}

  get isFailing(): boolean {
    return this.failing !== undefined;
  }

  /** A write failed; returns the finding to raise when this starts an episode. */
  failed(f: DiskFailure, memoryBytes: number): FindingReport | undefined {
    if (this.failing) return undefined;
    this.failing = f;
    this.log.error(
      { path: f.path, code: f.code, err: f.message, memoryBytes },
      'outbox: state dir unwritable; holding sealed data in memory and retrying',
    );
    return {
      kind: STATE_DIR_FINDING,
      severity: 'warning',
      active: true,
      message: `The agent cannot write its state directory ${f.path} (${f.code}); ${memoryBytes} bytes of unsent data are held in memory and would be lost if the agent restarted before the disk takes writes again.`,
      evidence: { path: f.path, errno: f.code, memoryBytes: String(memoryBytes) },
    };
  }

  /** A write succeeded; returns the clearing finding when that ends an episode and memory is empty. */
  succeeded(memoryCount: number): FindingReport | undefined {
    const f = this.failing;
    if (!f || memoryCount > 0) return undefined;
    this.failing = undefined;
    this.log.info({ path: f.path }, 'outbox: state dir writable again; everything held in memory is on disk');
    return {
      kind: STATE_DIR_FINDING,
      severity: 'warning',
      active: false,
      message: `The agent writes its state directory ${f.path} again.`,
      evidence: { path: f.path },
    };
  }
}
