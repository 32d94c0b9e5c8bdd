/**
 * Progress on stderr: one rewritten line (step, elapsed, ETA) on a terminal, plain lines otherwise
 * (a log file or CI output should not fill with carriage returns).
 */
export interface Progress {
  step(index: number, total: number, label: string, remainingS: number): void;
  note(text: string): void;
  done(): void;
}

const clock = (s: number) => {
  const t = Math.max(0, Math.round(s));
  return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, '0')}`;
};

export function createProgress(stream: NodeJS.WriteStream, startedMs: number): Progress {
  const tty = stream.isTTY === true;
  let live = false;
  const elapsed = () => clock((performance.now() - startedMs) / 1000);
  return {
    step(index, total, label, remainingS) {
      const text = `[${index + 1}/${total}] ${label}  elapsed ${elapsed()}  ETA ${clock(remainingS)}`;
      if (tty) {
        // A line longer than the terminal would wrap, and \r would then rewrite only its last part.
        const width = stream.columns > 20 ? stream.columns - 1 : 200;
        stream.write(`\r\x1b[2K${text.slice(0, width)}`);
        live = true;
      } else stream.write(`bench: ${text}\n`);
    },
    note(text) {
      stream.write(`${tty && live ? '\r\x1b[2K' : ''}bench: ${text}\n`);
      live = false;
    },
    done() {
      if (tty && live) stream.write('\r\x1b[2K');
      live = false;
    },
  };
}
