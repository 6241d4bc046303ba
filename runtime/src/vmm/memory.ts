// Guest memory: anonymous memory in box's own address space that KVM maps into the guest's
// physical address space (KVM_SET_USER_MEMORY_REGION). The guest and the monitor see the
// same bytes: the monitor loads a program by writing into it, and reads a hypercall's buffer
// straight out of it, with no copy through the kernel.

import type { KvmLibc, Pointer } from './kvm-sys.ts';
import { MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from './kvm-sys.ts';

export class GuestMemory {
  /** Where the region starts in the guest's physical address space. */
  readonly guestPhys: number;
  readonly size: number;
  /** The memory itself, as the monitor sees it (index 0 = guest physical guestPhys). */
  readonly bytes: Uint8Array;
  readonly host: Pointer;
  private readonly libc: KvmLibc;
  private unmapped = false;

  /**
   * Map `size` bytes of zeroed memory (MAP_ANONYMOUS pages are zero-filled by the kernel, and
   * MAP_NORESERVE means untouched pages cost nothing: a 640 KiB guest that uses 3 pages
   * occupies 3 pages of host RAM).
   */
  constructor(libc: KvmLibc, guestPhys: number, size: number) {
    const host = libc.mmap(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!host) throw new Error(`mmap of ${size} bytes of guest memory failed`);
    this.libc = libc;
    this.host = host;
    this.guestPhys = guestPhys;
    this.size = size;
    this.bytes = new Uint8Array(libc.view(host, size));
  }

  /** Does [gpa, gpa+length) lie inside this region? */
  contains(gpa: number, length = 1): boolean {
    return gpa >= this.guestPhys && length >= 0 && gpa + length <= this.guestPhys + this.size;
  }

  /** A view of guest-physical bytes (no copy). Throws if the range is not in this region. */
  slice(gpa: number, length: number): Uint8Array {
    if (!this.contains(gpa, length)) {
      throw new RangeError(`guest physical 0x${gpa.toString(16)}+${length} is outside guest memory`);
    }
    const at = gpa - this.guestPhys;
    return this.bytes.subarray(at, at + length);
  }

  write(gpa: number, data: Uint8Array): void {
    this.slice(gpa, data.length).set(data);
  }

  unmap(): void {
    if (this.unmapped) return;
    this.unmapped = true;
    this.libc.munmap(this.host, this.size);
  }
}
