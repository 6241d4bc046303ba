// What the API server checks and fills in before it stores an object: a bad manifest is
// refused here with the path of the field that is wrong, as Kubernetes' validation does;
// defaults (a Deployment's 25% surge, a Pod's Pending phase) are set once, here.

import { randomUUID } from 'node:crypto';
import type { Cause } from './status.ts';
import type { Obj } from './store.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const required = (field: string): Cause => ({ field, reason: 'FieldValueRequired', message: 'Required value' });
const bad = (field: string, value: unknown, why: string): Cause =>
  ({ field, reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}` });

function checkName(o: Obj, causes: Cause[]): void {
  const name = o.metadata?.name;
  if (!name) causes.push(required('metadata.name'));
  else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) causes.push(bad('metadata.name', name, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"));
}

function checkPodSpec(spec: Obj | undefined, at: string, causes: Cause[]): void {
  if (!spec) return void causes.push(required(at));
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) return void causes.push(required(`${at}.containers`));
  spec.containers.forEach((c: Obj, i: number) => {
    const p = `${at}.containers[${i}]`;
    if (!c.name) causes.push(required(`${p}.name`));
    else if (!DNS_LABEL.test(c.name)) causes.push(bad(`${p}.name`, c.name, 'a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\''));
    if (!c.image) causes.push(required(`${p}.image`));
    (c.ports ?? []).forEach((port: Obj, j: number) => {
      if (!(port.containerPort > 0 && port.containerPort < 65536)) causes.push(bad(`${p}.ports[${j}].containerPort`, port.containerPort, 'must be between 1 and 65535, inclusive'));
    });
  });
  if (spec.restartPolicy && !['Always', 'OnFailure', 'Never'].includes(spec.restartPolicy)) {
    causes.push({ field: `${at}.restartPolicy`, reason: 'FieldValueNotSupported', message: `Unsupported value: "${spec.restartPolicy}": supported values: "Always", "OnFailure", "Never"` });
  }
}

function selectorMatches(selector: Obj | undefined, labels: Obj | undefined): boolean {
  return Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels?.[k] === v);
}

/** The field paths that are wrong, [] if none. */
export function validate(kind: string, o: Obj): Cause[] {
  const causes: Cause[] = [];
  checkName(o, causes);
  const spec = o.spec;
  if (kind === 'Pod') checkPodSpec(spec, 'spec', causes);
  if (kind === 'Deployment' || kind === 'ReplicaSet') {
    if (!spec) return [...causes, required('spec')];
    if (spec.replicas !== undefined && !(Number.isInteger(spec.replicas) && spec.replicas >= 0)) causes.push(bad('spec.replicas', spec.replicas, 'must be greater than or equal to 0'));
    if (!spec.selector || Object.keys(spec.selector.matchLabels ?? {}).length === 0) causes.push(required('spec.selector'));
    else if (!selectorMatches(spec.selector, spec.template?.metadata?.labels)) causes.push(bad('spec.template.metadata.labels', spec.template?.metadata?.labels ?? {}, '`selector` does not match template `labels`'));
    checkPodSpec(spec.template?.spec, 'spec.template.spec', causes);
  }
  if (kind === 'Service') {
    if (!Array.isArray(spec?.ports) || spec.ports.length === 0) causes.push(required('spec.ports'));
    else spec.ports.forEach((p: Obj, i: number) => {
      if (!(p.port > 0 && p.port < 65536)) causes.push(bad(`spec.ports[${i}].port`, p.port, 'must be between 1 and 65535, inclusive'));
      if (p.protocol && !['TCP', 'UDP'].includes(p.protocol)) causes.push({ field: `spec.ports[${i}].protocol`, reason: 'FieldValueNotSupported', message: `Unsupported value: "${p.protocol}": supported values: "TCP", "UDP"` });
      const t = p.targetPort;
      if (typeof t === 'number' ? !(t > 0 && t < 65536) : t !== undefined && !DNS_LABEL.test(String(t))) causes.push(bad(`spec.ports[${i}].targetPort`, t, 'must be a port number from 1 to 65535 or the name of a container port'));
      if (spec.ports.length > 1 && !p.name) causes.push(required(`spec.ports[${i}].name`));
    });
    if (spec?.selector !== undefined && (typeof spec.selector !== 'object' || Object.values(spec.selector).some((v) => typeof v !== 'string'))) causes.push(bad('spec.selector', spec.selector, 'a map of label keys to string values, e.g. app: web'));
    if (spec?.type && !['ClusterIP', 'NodePort'].includes(spec.type)) causes.push({ field: 'spec.type', reason: 'FieldValueNotSupported', message: `Unsupported value: "${spec.type}": supported values: "ClusterIP", "NodePort"` });
  }
  if (kind === 'ConfigMap') {
    for (const field of ['data', 'binaryData']) {
      for (const [k, v] of Object.entries(o[field] ?? {})) {
        if (!CONFIG_KEY.test(k) || k.length > 253) causes.push(bad(`${field}[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
        if (typeof v !== 'string') causes.push(bad(`${field}[${k}]`, v, 'must be a string (quote numbers and booleans in YAML)'));
      }
    }
  }
  return causes;
}

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

/** Fill in what the server owns and the defaults a reader sees in `kubectl get -o yaml`. */
export function defaults(kind: string, o: Obj): Obj {
  o.metadata.uid ??= randomUUID();
  o.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  o.metadata.generation ??= 1;
  if (kind === 'Pod') {
    o.spec.restartPolicy ??= 'Always';
    o.spec.terminationGracePeriodSeconds ??= 30;
    o.status ??= { phase: 'Pending' };
  }
  if (kind === 'Deployment' || kind === 'ReplicaSet') {
    o.spec.replicas ??= 1;
    if (kind === 'Deployment') {
      o.spec.revisionHistoryLimit ??= 10;
      o.spec.strategy ??= { type: 'RollingUpdate' };
      if (o.spec.strategy.type === 'RollingUpdate') o.spec.strategy.rollingUpdate = { maxSurge: '25%', maxUnavailable: '25%', ...o.spec.strategy.rollingUpdate };
    }
    o.status ??= {};
  }
  if (kind === 'Service') {
    o.spec.type ??= 'ClusterIP';
    o.spec.sessionAffinity ??= 'None';
    o.spec.ipFamilies ??= ['IPv4'];
    o.spec.ipFamilyPolicy ??= 'SingleStack';
    o.spec.internalTrafficPolicy ??= 'Cluster';
    if (o.spec.type === 'NodePort') o.spec.externalTrafficPolicy ??= 'Cluster';
    o.spec.ports = o.spec.ports.map((p: Obj) => ({ protocol: 'TCP', targetPort: p.port, ...p }));
  }
  if (kind === 'Namespace') o.status ??= { phase: 'Active' };
  return o;
}
