// Why a monitor cannot use KVM, in one sentence with what to do. KVM fails in a few distinct
// ways, and each has a different fix: a missing device, a device the user may not open, a
// CPU without (or with hidden) virtualization extensions, or a kernel speaking another API.

import fs from 'node:fs';
import { KVM_API_VERSION } from './kvm-abi.ts';

export const DEFAULT_KVM_PATH = '/dev/kvm';

export interface HostFacts {
  /** The flags line of /proc/cpuinfo, split. */
  cpuFlags: string[];
  /** For EACCES: the device's mode and group, e.g. "crw-rw---- root:kvm". */
  deviceOwner?: string;
}

export function readHostFacts(path: string): HostFacts {
  let cpuFlags: string[] = [];
  try {
    const line = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    cpuFlags = line ? line[1].trim().split(/\s+/) : [];
  } catch {
    /* no /proc: say less */
  }
  let deviceOwner: string | undefined;
  try {
    const st = fs.statSync(path);
    deviceOwner = `mode ${(st.mode & 0o777).toString(8)}, owner uid ${st.uid}, group ${groupName(st.gid)}`;
  } catch {
    /* absent */
  }
  return { cpuFlags, deviceOwner };
}

function groupName(gid: number): string {
  try {
    const line = fs.readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[2] === String(gid));
    if (line) return `'${line.split(':')[0]}'`;
  } catch {
    /* fall through */
  }
  return String(gid);
}

/**
 * The sentence for a failed open() of the KVM device.
 *
 * Hardware virtualization shows up in /proc/cpuinfo as `vmx` (Intel VT-x) or `svm` (AMD-V).
 * A virtual machine whose host does not pass them on ("nested virtualization off") has the
 * `hypervisor` flag but neither, and its kernel has no /dev/kvm to offer.
 */
export function openFailureMessage(path: string, code: string, facts: HostFacts): string {
  const named = path !== DEFAULT_KVM_PATH;
  if (code === 'ENOENT') {
    if (named) return `${path} does not exist: --kvm names the KVM device (the default is ${DEFAULT_KVM_PATH})`;
    const hw = facts.cpuFlags.includes('vmx') || facts.cpuFlags.includes('svm');
    const inVm = facts.cpuFlags.includes('hypervisor');
    if (!hw && inVm) {
      return `no ${path}: this machine is itself a virtual machine and its CPU shows no vmx/svm, so nested virtualization is off; turn it on in the outer hypervisor (e.g. kvm_intel.nested=1, or a cloud instance type with nested virtualization)`;
    }
    if (!hw) return `no ${path}: the CPU shows no hardware virtualization (vmx/svm in /proc/cpuinfo); enable Intel VT-x or AMD-V in the firmware settings`;
    return `no ${path}: the CPU supports virtualization but KVM is not loaded; run 'modprobe kvm_intel' (or kvm_amd) as root`;
  }
  if (code === 'EACCES' || code === 'EPERM') {
    const owner = facts.deviceOwner ? ` (${facts.deviceOwner})` : '';
    return `permission denied opening ${path}${owner}: add your user to that group (sudo usermod -aG kvm $USER, then log in again) or run box as root`;
  }
  if (code === 'ENXIO' || code === 'ENODEV') {
    return `${path} exists but no KVM driver answers it; load kvm_intel or kvm_amd (modprobe) and check that virtualization is enabled in the firmware`;
  }
  return `cannot open ${path}: ${code}`;
}

export function notKvmMessage(path: string, code: string): string {
  return `${path} is not a KVM device (KVM_GET_API_VERSION failed: ${code}); name the KVM device with --kvm, usually ${DEFAULT_KVM_PATH}`;
}

export function apiMismatchMessage(path: string, version: number): string {
  return `${path} speaks KVM API version ${version}, box speaks version ${KVM_API_VERSION}; this kernel's KVM is not one box can drive`;
}
