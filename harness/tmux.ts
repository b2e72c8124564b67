// SPDX-License-Identifier: MIT
// A real terminal for tests: a tmux server of its own (its own socket, no
// config) running an interactive sh in a detached window of a given size.
// Tests type with send-keys and read the screen with capture-pane, and read
// the terminal's modes (alternate screen, cursor) from tmux's formats.
// tmux is a test dependency (apt-get install tmux).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './system.js';

/** The prompt of the window's shell, to see that the shell has the terminal back. */
export const PROMPT = 'top-test$ ';

let servers = 0;

export class Tmux {
  private readonly socket = `tcpstates-test-${process.pid}-${++servers}`;
  /** A directory for files the shell writes (exit status, stty). */
  readonly dir = mkdtempSync(join(tmpdir(), 'tcpstates-tmux-'));

  private constructor(columns: number, rows: number) {
    this.tmux('new-session', '-d', '-x', String(columns), '-y', String(rows), `env PS1='${PROMPT}' sh`);
  }

  /** A terminal whose shell is reading commands: text typed before its
   * prompt would be echoed ahead of it, out of place on the screen. */
  static async open(columns: number, rows: number): Promise<Tmux> {
    const tmux = new Tmux(columns, rows);
    try {
      await tmux.waitForScreen('the shell\'s prompt', (lines) => lines[0] === PROMPT.trimEnd());
    } catch (error) {
      tmux.close();
      throw error;
    }
    return tmux;
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  }

  /** Types `keys` (tmux key names, e.g. "q", "C-c", "Enter"). */
  sendKeys(...keys: string[]): void {
    this.tmux('send-keys', ...keys);
  }

  /** Types `line` literally, then Enter. */
  typeLine(line: string): void {
    this.tmux('send-keys', '-l', line);
    this.tmux('send-keys', 'Enter');
  }

  /** The visible screen, one string per row, trailing blanks trimmed. */
  screen(): string[] {
    return this.tmux('capture-pane', '-p').replace(/\n$/, '').split('\n').map((line) => line.trimEnd());
  }

  /** The visible screen with its escape sequences (colours, attributes). */
  screenWithEscapes(): string {
    return this.tmux('capture-pane', '-p', '-e');
  }

  /** A tmux format of the pane, e.g. "#{alternate_on}". */
  format(format: string): string {
    return this.tmux('display-message', '-p', format).trim();
  }

  resize(columns: number, rows: number): void {
    this.tmux('resize-window', '-x', String(columns), '-y', String(rows));
  }

  /** The PIDs of the shell's children (the command running in the foreground). */
  shellChildren(): number[] {
    const shell = this.format('#{pane_pid}');
    const out = execFileSync('ps', ['-o', 'pid=', '--ppid', shell], { encoding: 'utf8' });
    return out.split('\n').filter((line) => line.trim() !== '').map(Number);
  }

  /** Waits until `predicate` holds for the screen; the last screen is in the error. */
  async waitForScreen(what: string, predicate: (lines: string[]) => boolean, timeoutMs = 10_000): Promise<string[]> {
    let lines: string[] = [];
    try {
      await waitFor(what, () => predicate((lines = this.screen())), timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}; the screen:\n${lines.join('\n')}`);
    }
    return lines;
  }

  readFile(name: string): string {
    return readFileSync(join(this.dir, name), 'utf8');
  }

  close(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // Already gone (its last window closed).
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
