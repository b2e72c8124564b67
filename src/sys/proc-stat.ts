// SPDX-License-Identifier: MIT
// /proc/<pid>/stat, pure: the fields after the parenthesised command name.

/** The fields of a /proc/<pid>/stat (or task/<tid>/stat) line after the
 * parenthesised command name, which may hold spaces: state is [0], field N
 * of proc(5) is [N - 3]. */
export function procStatFields(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}
