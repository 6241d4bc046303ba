// Start order from depends_on: a dependency starts before the services that need it
// (Compose's "topological" order), and a cycle is refused, naming it.

import { UserError } from '../sys/errors.ts';
import type { Project } from './model.ts';

/** Services in an order where each comes after all it depends on; ties in file order. */
export function startOrder(project: Project, only?: string[]): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      throw new UserError(`depends_on makes a cycle: ${cycle.join(' -> ')}; remove one of these dependencies`);
    }
    state.set(name, 'visiting');
    for (const dep of Object.keys(project.services[name].dependsOn)) visit(dep, [...trail, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of Object.keys(project.services)) {
    if (!project.services[name]) throw new UserError(`no such service: ${name}`);
  }
  // The whole graph is checked for cycles even when only some services are asked for.
  for (const name of Object.keys(project.services)) visit(name, []);
  if (!only || only.length === 0) return order;
  for (const name of only) if (!project.services[name]) throw new UserError(`no such service: ${name}; the services are ${Object.keys(project.services).join(', ')}`);
  const wanted = new Set<string>();
  const add = (name: string) => {
    if (wanted.has(name)) return;
    wanted.add(name);
    for (const dep of Object.keys(project.services[name].dependsOn)) add(dep);
  };
  only.forEach(add);
  return order.filter((n) => wanted.has(n));
}

/** The reverse: dependents stop before what they depend on (`down`, `stop`). */
export function stopOrder(project: Project, only?: string[]): string[] {
  return startOrder(project, only).reverse();
}
