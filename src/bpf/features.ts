// SPDX-License-Identifier: MIT
// The kernel floor, by feature rather than by version number: enterprise
// kernels backport BPF features under old version numbers, so a number
// would refuse kernels that work. The tracer simply tries its load; when
// the load fails, the probes here (bpf/probe.bpf.c, one tiny program per
// feature, loaded one at a time) name what the kernel lacks. BTF itself is
// checked before anything is loaded (preflight.ts checkKernel).

import { fileURLToPath } from 'node:url';
import { constants } from 'node:os';
import { BpfError, PreflightError } from '../errors.js';
import type { Libbpf } from '../ffi/libbpf.js';

const { EPERM } = constants.errno;
/** The failures a missing feature causes (a verifier rejection is a load's). */
const PROBED_STEPS = new Set(['load', 'attach']);

/** Ships beside the tracer's object (dist/bpf), like it. */
export const PROBE_OBJECT_PATH = fileURLToPath(new URL('../../bpf/probe.bpf.o', import.meta.url));

export interface KernelFeature {
  /** Its program in bpf/probe.bpf.c. */
  readonly program: string;
  /** What it is, for the message naming it. */
  readonly name: string;
  /** The first mainline release with it (backports bring it earlier). */
  readonly mainline: string;
  /** A map only this probe uses. */
  readonly map?: string;
}

/** Everything the tools need beyond BTF. The one list: the docs and the
 * hints say the same (KERNEL_FLOOR). Not the iter/bpf_sk_storage_map
 * iterator: no tool loads it, and Linux 6.18 here refuses it (EPERM, as
 * root); docs/deploy.md has the details. */
export const KERNEL_FEATURES: readonly KernelFeature[] = [
  { program: 'probe_tp_btf', name: 'BTF-typed tracepoints (tp_btf) on sock:inet_sock_set_state', mainline: '5.5' },
  { program: 'probe_socket_cookie', name: 'socket cookies from tracing programs (bpf_get_socket_cookie)', mainline: '5.12' },
  { program: 'probe_iter_task_file', name: 'the task_file iterator (iter/task_file)', mainline: '5.8' },
  { program: 'probe_iter_tcp', name: 'the TCP socket iterator (iter/tcp)', mainline: '5.9' },
];

/** The floor in one sentence, as every document states it. */
export const KERNEL_FLOOR =
  'a kernel with BTF (CONFIG_DEBUG_INFO_BTF=y), BTF-typed tracepoints, socket cookies from tracing programs and the task_file and tcp iterators: mainline Linux 5.12 or later, or an older vendor kernel that backports them';

export interface FeatureProbe {
  readonly feature: KernelFeature;
  /** 0 when the kernel loaded it; else the errno of the failed load. */
  readonly errno: number;
}

/** Loads each feature's program alone; what the kernel accepted and refused. */
export function probeKernelFeatures(libbpf: Libbpf, objectPath: string = PROBE_OBJECT_PATH): FeatureProbe[] {
  return KERNEL_FEATURES.map((feature) => {
    const object = libbpf.openObject(objectPath);
    try {
      for (const program of libbpf.programs(object)) libbpf.setAutoload(program, false);
      libbpf.setAutoload(libbpf.findProgram(object, feature.program), true);
      for (const other of KERNEL_FEATURES) {
        if (other.map !== undefined) libbpf.setAutocreate(libbpf.findMap(object, other.map), other.map === feature.map);
      }
      libbpf.loadObject(object);
      return { feature, errno: 0 };
    } catch (error) {
      return { feature, errno: error instanceof BpfError ? error.errno : -1 };
    } finally {
      libbpf.closeObject(object);
    }
  });
}

/** The error for a kernel that lacks `missing` (non-empty), pure. */
export function missingFeaturesError(missing: readonly KernelFeature[], cause?: unknown): PreflightError {
  const names = missing.map((feature) => `${feature.name}, mainline ${feature.mainline}`).join('; ');
  return new PreflightError(`this kernel lacks what the tools need: ${names}`, {
    hint: `the tools need ${KERNEL_FLOOR}`,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * After the tracer's load or attach failed with `error`: when the probes
 * find features missing, an error naming them (its cause the original);
 * otherwise `error` itself (the kernel has everything: the failure is
 * something else, and its own message says what).
 */
export function explainLoadFailure(error: unknown, libbpf: Libbpf, probeObjectPath: string = PROBE_OBJECT_PATH): unknown {
  // Privileges, memory for the rings...: not the kernel's features.
  if (!(error instanceof BpfError) || !PROBED_STEPS.has(error.step) || error.errno === EPERM) return error;
  let probes: FeatureProbe[];
  try {
    // A kernel BTF libbpf cannot parse fails every probe: the error's own
    // hint says what that means.
    if (!libbpf.kernelBtfLoads()) return error;
    probes = probeKernelFeatures(libbpf, probeObjectPath);
  } catch {
    return error; // no probe object, or libbpf refused it: keep what we know
  }
  const missing = probes.filter((probe) => probe.errno !== 0 && probe.errno !== EPERM).map((probe) => probe.feature);
  return missing.length === 0 ? error : missingFeaturesError(missing, error);
}
