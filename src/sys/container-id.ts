// SPDX-License-Identifier: MIT
// The container a cgroup v2 path belongs to, pure: the 64-hex-digit id the
// container runtimes put in the cgroups they create.
//
//   docker, systemd driver     /system.slice/docker-<id>.scope
//   docker, cgroupfs driver    /docker/<id>
//   containerd (Kubernetes)    /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope
//                              /kubepods/burstable/pod<uid>/<id>            (cgroupfs driver)
//   nerdctl                    /system.slice/nerdctl-<id>.scope
//   CRI-O                      /kubepods.slice/…/crio-<id>.scope
//   podman                     /machine.slice/libpod-<id>.scope, …/user@1000.service/user.slice/libpod-<id>.scope
//                              /machine.slice/libpod-<id>.scope/container  (a container running systemd)
//                              /libpod_parent/libpod-<id>                   (cgroupfs driver)
//
// The innermost such component names the container (docker in docker:
// the inner one). The runtimes' monitor processes (CRI-O's and podman's
// conmon: crio-conmon-<id>.scope, libpod-conmon-<id>.scope) run outside
// the container: no id. A pod's own cgroup (pod<uid>) holds no process
// of a container: no id either.

const CONTAINER_COMPONENT = /^(?:(?:docker|cri-containerd|crio|libpod|nerdctl)-)?([0-9a-f]{64})(?:\.scope)?$/;

/** The container id in a cgroup path, or null. */
export function containerIdOfPath(cgroupPath: string): string | null {
  const components = cgroupPath.split('/');
  for (let i = components.length - 1; i >= 0; i--) {
    const match = CONTAINER_COMPONENT.exec(components[i]!);
    if (match !== null) return match[1]!;
  }
  return null;
}

/** Paths already parsed: a host has a few hundred cgroups at most; the
 * cache starts over if something makes more. */
const MAX_CACHED = 4096;
const cache = new Map<string, string | null>();

/** containerIdOfPath, remembered per path (rows repeat a few paths). */
export function containerIdOf(cgroupPath: string | null): string | null {
  if (cgroupPath === null) return null;
  let id = cache.get(cgroupPath);
  if (id === undefined) {
    if (cache.size >= MAX_CACHED) cache.clear();
    id = containerIdOfPath(cgroupPath);
    cache.set(cgroupPath, id);
  }
  return id;
}

/** How text rows show an id: its first 12 digits, as `docker ps` does. */
export const SHORT_CONTAINER_ID_LENGTH = 12;
