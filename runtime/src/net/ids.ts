// Network ids: 64 hex digits from the kernel's random source, as container ids.

export { randomHexId as newNetworkId } from '../sys/random.ts';
