// What `box history` and `box inspect` show about an image, read from its config and manifest.

import { tagsOf, type Catalog, type StoredImage } from './catalog.ts';
import { layerDir } from './layers.ts';
import { layerSize } from './sizes.ts';

export interface HistoryRow {
  /** The image this step produced, when the store has it; the newest row is the image itself. */
  id?: string;
  created?: string;
  createdBy: string;
  /** Uncompressed bytes of the layer this step added; 0 for a step that changed only the config. */
  size: number;
  comment: string;
}

/**
 * One row per step in the image's config history, newest first. A step that made a layer
 * (every entry without empty_layer) gets the next layer, lowest first; layers the history
 * does not describe (images made by tools that write none) get a row of their own.
 */
export function historyRows(root: string, catalog: Catalog, image: StoredImage): HistoryRow[] {
  const layers = image.manifest.layers;
  const diffIds = image.config.rootfs.diff_ids;
  const history = image.config.history ?? [];
  // An image the store has whose layers and history are a prefix of this one's: the step's result.
  const known = new Map(catalog.images.map((i) => [stepKey(i.config.rootfs.diff_ids, i.config.history?.length ?? 0), i.id]));
  const rows: HistoryRow[] = [];
  let used = 0;
  const step = (steps: number, row: Omit<HistoryRow, 'id'>) => {
    rows.push({ ...row, ...idOf(known.get(stepKey(diffIds.slice(0, used), steps))) });
  };
  history.forEach((h, i) => {
    const addsLayer = !h.empty_layer && used < layers.length;
    const size = addsLayer ? layerSize(root, layers[used]) : 0;
    if (addsLayer) used++;
    step(i + 1, { ...(h.created ? { created: h.created } : {}), createdBy: h.created_by ?? '', size, comment: h.comment ?? '' });
  });
  while (used < layers.length) {
    const size = layerSize(root, layers[used]);
    used++;
    step(history.length, { createdBy: '', size, comment: '' });
  }
  rows.reverse();
  if (rows.length) rows[0].id = image.id;
  return rows;
}

function stepKey(diffIds: string[], steps: number): string {
  return `${steps}|${diffIds.join(',')}`;
}

function idOf(id: string | undefined): { id?: string } {
  return id ? { id } : {};
}

/** Uncompressed bytes of all the image's layers: the SIZE `box images` shows. */
export function imageSize(root: string, image: StoredImage): number {
  return image.manifest.layers.reduce((n, l) => n + layerSize(root, l), 0);
}

/** `box inspect IMAGE`: the fields of `docker image inspect` that box has, plus where the layers are unpacked. */
export function inspectView(root: string, catalog: Catalog, image: StoredImage): Record<string, unknown> {
  const tags = tagsOf(catalog, image.id);
  const names = [...new Set(tags.map((t) => t.slice(0, t.lastIndexOf(':'))))];
  const history = image.config.history ?? [];
  const diffIds = image.config.rootfs.diff_ids;
  return {
    Id: image.id,
    RepoTags: tags,
    RepoDigests: names.map((n) => `${n}@${image.manifestDigest}`),
    Comment: history[history.length - 1]?.comment ?? '',
    Created: image.config.created ?? '',
    Author: image.config.author ?? '',
    Config: image.config.config ?? {},
    Architecture: image.config.architecture,
    Os: image.config.os,
    Size: imageSize(root, image),
    RootFS: { Type: 'layers', Layers: diffIds },
    Descriptor: { mediaType: image.entry.mediaType, digest: image.entry.digest, size: image.entry.size },
    // Where box unpacked each layer; overlayfs stacks them, the top one first, under a container.
    GraphDriver: { Name: 'overlay', Data: { LowerDir: [...diffIds].reverse().map((d) => layerDir(root, d)).join(':') } },
  };
}
