import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a byte stream into lines without ever holding more than maxChars of one line: a longer
 * line is reported once (onTooLong) and skipped up to its newline.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private skipping = false;

  constructor(
    private readonly maxChars: number,
    private readonly onLine: (line: string) => void,
    private readonly onTooLong: () => void,
  ) {}

  write(chunk: Buffer): void {
    const text = this.decoder.write(chunk);
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl >= 0) {
      if (this.skipping) this.skipping = false;
      else {
        const line = this.partial ? this.partial + text.slice(start, nl) : text.slice(start, nl);
        this.partial = '';
        if (line.length > this.maxChars) this.onTooLong();
        else this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      }
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    if (this.skipping) return;
    this.partial += start === 0 ? text : text.slice(start);
    if (this.partial.length > this.maxChars) {
      this.partial = '';
      this.skipping = true;
      this.onTooLong();
    }
  }

  /** End of input: a last line without newline still counts. */
  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (!this.skipping && rest.length > 0) {
      if (rest.length > this.maxChars) this.onTooLong();
      else this.onLine(rest);
    }
    this.skipping = false;
  }
}
