// A Server-Sent Events parser (the HTML standard's "event stream interpretation"), fed decoded text
// in whatever chunks the network gives; the web view (which reads /api/v1/watch with fetch() because
// EventSource cannot send the Authorization header) and `-w` in the CLI share it. Pure: no I/O, no
// timers, nothing Node-only (it is bundled for the browser too).

export interface SseEvent {
  /** The `event:` field, "message" when absent. */
  type: string;
  data: string;
  /** The last `id:` seen on the stream, if any. */
  id?: string;
}

export class SseParser {
  private buffer = '';
  /** The previous chunk ended in CR: a LF starting this one belongs to that line ending. */
  private skipLf = false;
  private type = '';
  private data: string[] = [];
  private lastId: string | undefined;

  /** The events completed by this chunk (a blank line ends an event; the rest waits for more text). */
  feed(chunk: string): SseEvent[] {
    if (this.skipLf && chunk.length) {
      if (chunk[0] === '\n') chunk = chunk.slice(1);
      this.skipLf = false;
    }
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start),
        lf = this.buffer.indexOf('\n', start);
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      if (end < 0) break;
      const ev = this.line(this.buffer.slice(start, end));
      if (ev) out.push(ev);
      if (this.buffer[end] === '\r' && end + 1 === this.buffer.length) {
        this.skipLf = true;
        start = end + 1;
        break;
      }
      start = end + (this.buffer[end] === '\r' && this.buffer[end + 1] === '\n' ? 2 : 1);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line[0] === ':') return undefined; // a comment, e.g. the keepalive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    return undefined; // `retry` and unknown fields: this reader reconnects on its own schedule
  }

  private dispatch(): SseEvent | undefined {
    const ev = this.data.length
      ? {
          type: this.type || 'message',
          data: this.data.join('\n'),
          ...(this.lastId === undefined ? {} : { id: this.lastId }),
        }
      : undefined;
    this.type = '';
    this.data = [];
    return ev;
  }
}
