// Where images live on disk. Everything box keeps is under one root directory, so a test
// (or a lab sandbox) can point BOX_ROOT somewhere else and get a store of its own.

import path from 'node:path';

/** The box root: $BOX_ROOT, or /var/lib/box (where container runtimes keep their state). */
export function boxRoot(): string {
  return process.env.BOX_ROOT || '/var/lib/box';
}

/** The paths of the image store under a box root. */
export interface StorePaths {
  /** The OCI image layout: oci-layout, index.json, blobs/sha256/<hex>. umoci and skopeo read it. */
  oci: string;
  index: string;
  blobs: string;
  /** Unpacked layers, one directory per layer: layers/sha256/<hex of the uncompressed tar>. */
  layers: string;
  /** Copies of unpacked layers with owners shifted for user namespaces: layers-userns/<base>/<hex>
   * (made by container/userns-layers.ts; removed with the layer). */
  usernsLayers: string;
  /** Held (flock) while index.json is rewritten or a built-in image is made. */
  lock: string;
}

export function storePaths(root: string = boxRoot()): StorePaths {
  const oci = path.join(root, 'oci');
  return {
    oci,
    index: path.join(oci, 'index.json'),
    blobs: path.join(oci, 'blobs', 'sha256'),
    layers: path.join(root, 'layers', 'sha256'),
    usernsLayers: path.join(root, 'layers-userns'),
    lock: path.join(root, 'image.lock'),
  };
}
