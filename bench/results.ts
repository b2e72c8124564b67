// SPDX-License-Identifier: MIT
// The bench's results as data: one JSON file per run in bench/results/, with
// the date, the machine, the kernel and the commit measured, and its tables
// as rows of cells. docs/performance.md is rendered from these files
// (bench/render.ts), so no number is copied into prose by hand.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { markdownTable } from './parse.js';

export const RESULTS_SCHEMA = 1;

/** What the numbers were measured on. */
export interface Machine {
  /** The CPU model (/proc/cpuinfo's "model name"). */
  readonly cpu: string;
  readonly cpus: number;
  readonly memory_gib: number;
  /** The kernel release (uname -r). */
  readonly kernel: string;
  readonly node: string;
  /** The system libbpf's package version; null if unknown. */
  readonly libbpf: string | null;
  /** libbpf-tools' package version, the reference; null if not installed. */
  readonly libbpf_tools: string | null;
  /** Anything else that makes the numbers (a VM kind, what else ran). */
  readonly notes?: string;
}

/** One table: the first column names the rows, the others are cells as printed. */
export interface ResultTable {
  /** Stable name (warm, floor, cold, tax, ...), for the renderer and the tests. */
  readonly id: string;
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** A single measured value that belongs in no table. */
export interface ResultFact {
  readonly what: string;
  readonly value: string;
}

export interface ResultFile {
  readonly schema: number;
  /** When measured, ISO 8601 (a date alone for results recorded before the bench wrote data). */
  readonly date: string;
  readonly machine: Machine;
  /** The commit measured (git rev-parse HEAD, "-dirty" with local changes). */
  readonly commit: string;
  /** The command that made them. */
  readonly command: string;
  /** Where the numbers came from, when not straight from a run's output. */
  readonly source?: string;
  readonly tables: readonly ResultTable[];
  readonly facts?: readonly ResultFact[];
  readonly notes?: readonly string[];
}

function quietly(command: string, args: readonly string[]): string | null {
  try {
    return execFileSync(command, [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

function packageVersion(name: string): string | null {
  return quietly('dpkg-query', ['-W', '-f', '${Version}', name]);
}

/** This machine, as a results file names it. */
export function thisMachine(): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.versions.node,
    libbpf: packageVersion('libbpf1'),
    libbpf_tools: packageVersion('libbpf-tools'),
  };
}

/** The commit of the checkout at `root`, "-dirty" if it has local changes. */
export function currentCommit(root: string): string {
  const head = quietly('git', ['-C', root, 'rev-parse', 'HEAD']) ?? 'unknown';
  const dirty = quietly('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']) !== null;
  return dirty ? `${head}-dirty` : head;
}

/** Writes `results` to `dir` as <date>-<host>.json; returns the path. */
export function writeResults(dir: string, results: ResultFile): string {
  mkdirSync(dir, { recursive: true });
  const stamp = results.date.replace(/[:.]/g, '-');
  const path = join(dir, `${stamp}-${hostname().replace(/[^\w.-]/g, '_')}.json`);
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
  return path;
}

/** Every results file in `dir`, newest first. */
export function readResults(dir: string): ResultFile[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as ResultFile)
    .sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : a.command.localeCompare(b.command)));
}

export function tableMarkdown(table: ResultTable): string {
  return markdownTable(table.columns, table.rows);
}

// --- docs/performance.md

/** The markers around the rendered part of docs/performance.md. */
export const RENDERED_BEGIN = '<!-- Rendered from bench/results/*.json by `npm run bench:render`: edit the data, not this. -->';
export const RENDERED_END = '<!-- End of the rendered results. -->';

function describeMachine(machine: Machine): string {
  const versions = [`kernel ${machine.kernel}`, `Node ${machine.node}`];
  if (machine.libbpf !== null) versions.push(`libbpf ${machine.libbpf}`);
  if (machine.libbpf_tools !== null) versions.push(`libbpf-tools ${machine.libbpf_tools}`);
  const notes = machine.notes === undefined ? '' : ` ${machine.notes}`;
  return `${machine.cpus} CPUs (${machine.cpu}), ${machine.memory_gib} GiB, ${versions.join(', ')}.${notes}`;
}

/** One results file as a section of markdown. */
export function renderResultFile(results: ResultFile): string {
  const parts = [
    `### ${results.date.slice(0, 10)}, ${results.machine.cpu}: \`${results.command}\``,
    `Machine: ${describeMachine(results.machine)}`,
    `Commit: \`${results.commit}\`.${results.source === undefined ? '' : ` ${results.source}`}`,
  ];
  for (const table of results.tables) parts.push(`**${table.title}**`, tableMarkdown(table));
  if (results.facts !== undefined && results.facts.length > 0) {
    parts.push(results.facts.map((fact) => `- ${fact.what}: ${fact.value}.`).join('\n'));
  }
  for (const note of results.notes ?? []) parts.push(note);
  return parts.join('\n\n');
}

/** `document` with the part between the markers replaced by `results`, newest first. */
export function renderPerformanceDoc(document: string, results: readonly ResultFile[]): string {
  const begin = document.indexOf(RENDERED_BEGIN);
  const end = document.indexOf(RENDERED_END);
  if (begin < 0 || end < begin) throw new Error('docs/performance.md lacks the rendered-results markers');
  const rendered = results.map(renderResultFile).join('\n\n');
  return `${document.slice(0, begin + RENDERED_BEGIN.length)}\n\n${rendered}\n\n${document.slice(end)}`;
}
