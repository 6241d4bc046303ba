// The image store's public surface. See store.ts for the layout on disk, layers.ts for
// unpacking, busybox.ts and lab.ts for the built-in images.

export { boxRoot, storePaths } from './paths.ts';
export { normalizeRef, type ImageRef } from './ref.ts';
export { resolveImage } from './resolve.ts';
export { ensureBaseImages, BUILT_IN_IMAGES } from './base-images.ts';
export { listImages, writeImage, hostPlatform, type ResolvedImage, type ImageSummary } from './images.ts';
export { importLayerTar, ensureLayerUnpacked, layerDir, type LayerRecord } from './layers.ts';
export { unpackTar, type UnpackStats } from './unpack.ts';
export { copyLayerShifted } from './layer-copy.ts';
export { readIndex, REF_NAME, MediaType, type ImageConfig, type OciImageConfig, type Descriptor } from './store.ts';
export { BUSYBOX_REF, findStaticBusybox } from './busybox.ts';
export { LAB_REF, HOST_BINDS_LABEL } from './lab.ts';
