// SPDX-License-Identifier: MIT
// container_id from cgroup v2 paths, on the shapes the runtimes make
// (copied from /proc/PID/cgroup on hosts running each of them).

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { containerIdOf, containerIdOfPath } from '../../src/sys/container-id.js';

const ID = '3f2a9c1e0b7d4f8a6c5e2d1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a19';
const OTHER = 'aa11bb22cc33dd44ee55ff66aa77bb88cc99dd00ee11ff22aa33bb44cc55dd66';

test('docker, containerd, CRI-O and podman paths give the container id', () => {
  const shapes: [string, string][] = [
    [`/system.slice/docker-${ID}.scope`, 'docker, systemd cgroup driver'],
    [`/docker/${ID}`, 'docker, cgroupfs driver'],
    [`/user.slice/user-1000.slice/user@1000.service/docker-${ID}.scope`, 'rootless docker'],
    [
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0d1e7c2a_5b3f_4e8a_9c6d_1f2e3a4b5c6d.slice/cri-containerd-${ID}.scope`,
      'containerd under kubelet, systemd driver',
    ],
    [`/kubepods/burstable/pod0d1e7c2a-5b3f-4e8a-9c6d-1f2e3a4b5c6d/${ID}`, 'containerd under kubelet, cgroupfs driver'],
    [`/kubepods.slice/kubepods-pod0d1e7c2a_5b3f_4e8a_9c6d_1f2e3a4b5c6d.slice/cri-containerd-${ID}.scope`, 'guaranteed pod'],
    [`/system.slice/nerdctl-${ID}.scope`, 'nerdctl'],
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d1e7c2a_5b3f.slice/crio-${ID}.scope`, 'CRI-O'],
    [`/machine.slice/libpod-${ID}.scope`, 'rootful podman'],
    [`/machine.slice/libpod-${ID}.scope/container`, 'podman, a container running systemd'],
    [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`, 'rootless podman'],
    [`/libpod_parent/libpod-${ID}`, 'podman, cgroupfs driver'],
    [`/system.slice/docker-${ID}.scope/init.scope`, 'a process in a container\'s child cgroup'],
    [`/docker/${OTHER}/docker/${ID}`, 'docker in docker: the inner container'],
  ];
  for (const [path, what] of shapes) assert.equal(containerIdOfPath(path), ID, what);
});

test('no container: host services, slices, pods, the runtimes\' monitors, near misses', () => {
  for (const path of [
    '/',
    '/system.slice/nginx.service',
    '/user.slice/user-1000.slice/session-2.scope',
    '/init.scope',
    '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0d1e7c2a_5b3f_4e8a_9c6d_1f2e3a4b5c6d.slice',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d1e.slice/crio-conmon-${ID}.scope`,
    `/machine.slice/libpod-conmon-${ID}.scope`,
    `/system.slice/docker-${ID.slice(1)}.scope`, // 63 digits
    `/system.slice/docker-${ID.toUpperCase()}.scope`,
    `/system.slice/docker-${ID}.service`,
    `/system.slice/other-${ID}.scope`,
    `/system.slice/docker-${ID}x.scope`,
  ]) {
    assert.equal(containerIdOfPath(path), null, path);
  }
  assert.equal(containerIdOf(null), null);
});

test('remembered per path: the same answer twice', () => {
  const path = `/system.slice/docker-${ID}.scope`;
  assert.equal(containerIdOf(path), ID);
  assert.equal(containerIdOf(path), ID);
  assert.equal(containerIdOf('/system.slice'), null);
});
