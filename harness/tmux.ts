// SPDX-License-Identifier: MIT
// A real terminal for tests: a tmux server of its own (its own socket, no
// config) running an interactive sh in a detached window of a given size.
// Tests type with send-keys and read the screen with capture-pane, and read
// the terminal's modes (alternate screen, cursor) from tmux's formats.
// tmux is a test dependency (apt-get install tmux).

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

  /** Types `command` into the shell; when it ends, the shell records its
   * exit status and `stty -a`: the terminal's modes as the command left them. */
  runCommand(command: string): void {
    this.typeLine(`${command}; echo $? > ${join(this.dir, 'status')}; stty -a > ${join(this.dir, 'stty')}`);
  }

  /** After runCommand's command ended: the shell's prompt is back on the
   * main screen, the cursor shown, the terminal in canonical mode with
   * echo, and the exit status is `exitStatus`. Returns the screen. */
  async assertRestored(exitStatus: number): Promise<string[]> {
    await waitFor('the command to end', () => existsSync(join(this.dir, 'stty')));
    const lines = await this.waitForScreen('the prompt', (screen) => screen.filter((line) => line !== '').at(-1) === PROMPT.trimEnd());
    assert.equal(this.format('#{alternate_on}'), '0', 'alternate screen off');
    assert.equal(this.format('#{cursor_flag}'), '1', 'cursor shown');
    const stty = readFileSync(join(this.dir, 'stty'), 'utf8');
    assert.match(stty, /(^|\s)icanon(\s|;|$)/, 'canonical mode');
    assert.match(stty, /(^|\s)echo(\s|;|$)/, 'echo');
    assert.equal(readFileSync(join(this.dir, 'status'), 'utf8').trim(), String(exitStatus), 'exit status');
    return lines;
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
