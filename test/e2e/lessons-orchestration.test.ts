// End to end, the two orchestration lessons as a reader meets them, in English and in Korean:
// the real lab server, the site in headless Chromium, a real `box --lab` sandbox in which
// `box cluster up --nodes 3` runs and the real kubectl (the host's /usr/bin) drives it. The
// main demos from their Run buttons (a Deployment of three, a deleted pod replaced under
// `kubectl get pods -w`, a stopped node's pod moved, scaling, the control plane's log; a
// rolling update, a broken version rolled back, a readiness probe holding a rollout), and one
// exercise of each lesson failed before its task and passed after it.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { PROMPT, T, startLessonLab } from './lesson-page.ts';
import type { LessonLab, LessonPage } from './lesson-page.ts';
import { needs } from '../support/requires.ts';

function has(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}

const missing = await browserTestsMissing();
const kubectlMissing = has('kubectl') ? '' : 'kubectl is not installed (apt-get install kubectl)';

let lab: LessonLab;

/** A line of `kubectl get pods` for a Ready, Running pod of web. */
const READY_WEB = /^web-[a-z0-9]+-[a-z0-9]{5} +1\/1 +Running /gm;

/** web rolled out: READY 3/3, UP-TO-DATE 3, AVAILABLE 3, and no other ReplicaSet with pods. */
const ROLLED_OUT = 'kubectl get deployment web --no-headers | grep -q "^web *3/3 *3 *3 " && [ "$(kubectl get replicaset --no-headers | grep -vc " 0 *0 *0 ")" = 1 ]';

/** Wait (in the sandbox, typed) until `condition` holds; it is sh. */
async function until(p: LessonPage, condition: string): Promise<void> {
  await p.typeAll(`until ${condition}; do sleep 1; done`);
}

/** Stop a `kubectl get -w` as a reader does, with Ctrl-C, and wait for the prompt. */
async function interrupt(p: LessonPage): Promise<void> {
  const from = (await p.screen()).length;
  await p.page.locator('[data-testid="terminal"]').click();
  await p.page.keyboard.press('Control+c');
  await p.waitScreen(PROMPT, Math.max(0, from - 1));
}

/** The lesson's `kubectl rollout status deployment/web` button: the success, and the prompt back. */
async function rolloutStatus(p: LessonPage): Promise<void> {
  await p.run('kubectl rollout status deployment/web', /deployment "web" successfully rolled out\n[^\n]*[#$] *$/);
}

/** Both lessons start the same way: three nodes, then web.yaml applied and rolled out. */
async function clusterAndWeb(p: LessonPage): Promise<void> {
  await p.run('box cluster up --nodes 3', /cluster up: API server https:\/\/127\.0\.0\.1:\d+; kubectl's context 'box' is in \/root\/\.kube\/config\n[\s\S]*[#$] *$/);
  await until(p, '[ "$(kubectl get nodes --no-headers 2>/dev/null | grep -c " Ready ")" = 3 ]');
  await p.runStarting("cat > /root/web.yaml <<'EOF'", PROMPT);
  await p.run('kubectl apply -f /root/web.yaml', /deployment\.apps\/web created\n/);
  await rolloutStatus(p);
}

/** Chapter 44's demo, from its Run buttons. */
async function orchestrationDemo(p: LessonPage): Promise<void> {
  await p.run('for i in 1 2 3; do box run -d --name byhand-$i busybox sleep 3600; done', PROMPT);
  await p.run('box rm -f byhand-2', PROMPT);
  const byHand = await p.run('box ps', PROMPT);
  expect(byHand).toContain('byhand-1');
  expect(byHand).not.toContain('byhand-2'); // removed, and nothing brought it back
  await p.run('box rm -f byhand-1 byhand-3', PROMPT);

  await p.run('box cluster up --nodes 3', /cluster up: API server https:\/\/127\.0\.0\.1:\d+; kubectl's context 'box' is in \/root\/\.kube\/config\n[\s\S]*[#$] *$/);
  await until(p, '[ "$(kubectl get nodes --no-headers 2>/dev/null | grep -c " Ready ")" = 3 ]');
  expect(await p.run('kubectl get nodes', /node-3 +Ready[^\n]*\n[^\n]*[#$] *$/)).toMatch(/node-1 +Ready[\s\S]*node-2 +Ready/);
  await p.runStarting("cat > /root/web.yaml <<'EOF'", PROMPT);
  await p.run('kubectl apply -f /root/web.yaml', /deployment\.apps\/web created\n/);
  await rolloutStatus(p);
  const pods = await p.run('kubectl get pods -o wide', PROMPT);
  expect(pods.match(READY_WEB)).toHaveLength(3);
  expect(await p.runStarting('wget -qO- $(kubectl get pods', /\nhello from web-[a-z0-9]+-[a-z0-9]{5}\n/)).toMatch(/hello from web-/);

  // Self-healing: a deleted pod's replacement appears (0/1) and becomes Ready under the watch.
  await p.run('POD=$(kubectl get pods -l app=web -o name | head -1)', PROMPT);
  const deleted = /pod "(web-[a-z0-9-]+)" deleted/.exec(await p.run('kubectl delete $POD --wait=false', /pod "web-[a-z0-9-]+" deleted\n/))![1];
  const watched = await p.run('kubectl get pods -w', /\n(web-[a-z0-9]+-[a-z0-9]{5}) +0\/1 +[A-Za-z]+[^\n]*\n(?:[^\n]*\n)*?\1 +1\/1 +Running /);
  await interrupt(p);
  const replacement = /\n(web-[a-z0-9]+-[a-z0-9]{5}) +0\/1 /.exec(watched)![1];
  expect(replacement).not.toBe(deleted);

  // A node stops: NotReady, its pod evicted, the replacement on another node.
  await p.run('box cluster node stop node-2', /node-2 stopped\n/);
  await until(p, 'kubectl get nodes | grep -q "node-2 *NotReady"');
  await until(p, '[ "$(kubectl get pods -o wide --no-headers | grep "1/1 *Running" | grep -vc node-2)" = 3 ]');
  const moved = await p.run('kubectl get pods -o wide', PROMPT, 1);
  expect(moved.match(READY_WEB)).toHaveLength(3);
  expect(moved).not.toMatch(/ node-2\n/);
  await p.run('box cluster node start node-2', /node-2 started\n/);

  // Five and back to three.
  await p.run('kubectl scale deployment web --replicas 5', /deployment\.apps\/web scaled\n/);
  await until(p, '[ "$(kubectl get pods --no-headers | grep -c "1/1 *Running")" = 5 ]');
  await p.run('kubectl scale deployment web --replicas 3', /deployment\.apps\/web scaled\n/);
  await until(p, '[ "$(kubectl get pods --no-headers | wc -l)" = 3 ]');

  // A Service spreading requests: its endpoints are the three pods, and a client pod asking
  // web.default.svc (the cluster DNS) gets answers from each of them.
  await p.run('kubectl expose deployment web --port 80', /service\/web exposed\n/);
  await until(p, 'kubectl get endpoints web 2>/dev/null | grep -q ":80,.*:80,.*:80"');
  await p.run('kubectl get service web', /\nweb +ClusterIP +10\.[0-9.]+ +<none> +80\/TCP /);
  expect((await p.run('kubectl get endpoints web', /\nweb +[0-9.:,]+ [^\n]*\n[^\n]*[#$] *$/)).match(/\d+\.\d+\.\d+\.\d+:80/g)).toHaveLength(3);
  await p.runStarting("cat > /root/client.yaml <<'EOF'", PROMPT);
  await p.run('kubectl apply -f /root/client.yaml', /pod\/client created\n/);
  await until(p, '[ "$(kubectl logs client 2>/dev/null | grep "^hello from" | sort -u | wc -l)" -ge 3 ]');
  const counts = await p.run('kubectl logs client | sort | uniq -c', PROMPT);
  expect(counts.match(/^ +\d+ hello from web-[a-z0-9]+-[a-z0-9]{5}$/gm)).toHaveLength(3);

  // What each controller did, from the control plane's own log.
  const log = await p.run('cat /var/lib/box/cluster/control-plane.log', /deleted pod web-[\s\S]*service names: web\.default\.svc [\s\S]*\n[^\n]*[#$] *$/);
  expect(log).toMatch(/deployment web: created replicaset web-[a-z0-9]+ \(revision 1\)/);
  expect(log).toMatch(/scheduler: pod web-[a-z0-9-]+ -> node-3/);
  expect(log).toContain('node-lifecycle: node node-2 stopped reporting: NotReady');
  expect(log).toMatch(/node-lifecycle: evicted pod web-[a-z0-9-]+ from node-2/);
  expect(log).toMatch(/deployment web: scaled replicaset web-[a-z0-9]+ to 5/);
  expect(log).toContain('endpoints: made web in default');
}

/** Chapter 45 up to the rolling update to v2, from its Run buttons. */
async function rollingUpdateDemo(p: LessonPage): Promise<void> {
  await clusterAndWeb(p);
  expect(await p.run('kubectl get deployment web -o yaml | grep -A4 strategy', /type: RollingUpdate\n/)).toMatch(/maxSurge: 25%\n +maxUnavailable: 25%/);
  await p.run("sed -i 's/hello from/v2 from/' /root/web.yaml", PROMPT);
  await p.run('kubectl apply -f /root/web.yaml', /deployment\.apps\/web configured\n/, 1);
  // Watched pod by pod: a new pod Ready, and only then the next new one started.
  await p.run('kubectl get pods -w', /\n(web-([a-z0-9]+)-[a-z0-9]{5}) +0\/1 [^\n]*\n(?:[^\n]*\n)*?\1 +1\/1 +Running [^\n]*\n(?:[^\n]*\n)*?(?!\1 )web-\2-[a-z0-9]{5} +0\/1 /);
  await interrupt(p);
  await until(p, ROLLED_OUT);
  const rs = await p.run('kubectl get replicaset', PROMPT);
  expect(rs).toMatch(/\nweb-[a-z0-9]+ +3 +3 +3 /);
  expect(rs).toMatch(/\nweb-[a-z0-9]+ +0 +0 +0 /);
  await p.runStarting('wget -qO- $(kubectl get pods', /\nv2 from web-[a-z0-9]+-[a-z0-9]{5}\n/);
}

/** Chapter 45's broken version and its rollback, then the readiness probe that holds a rollout. */
async function rollbackAndReadiness(p: LessonPage): Promise<void> {
  await p.run('kubectl set image deployment/web web=busybox:1.99', /deployment\.apps\/web image updated\n/);
  await until(p, 'kubectl get pods | grep -q CreateContainerError');
  const stuck = await p.run('kubectl get pods', PROMPT, 0);
  expect(stuck.match(READY_WEB)).toHaveLength(3); // the old version still serves
  expect(stuck).toMatch(/ 0\/1 +CreateContainerError /);
  await p.run('kubectl rollout undo deployment/web', /deployment\.apps\/web rolled back\n/);
  await until(p, ROLLED_OUT);
  expect(await p.run('kubectl rollout history deployment/web', /\n4 +<none>\n/, 1)).not.toMatch(/\n2 +<none>\n/);

  await p.runStarting("sed -i 's/v2 from/v3 from/", PROMPT);
  await p.run('kubectl apply -f /root/web.yaml', /deployment\.apps\/web configured\n/, 2);
  await until(p, 'kubectl get pods | grep -q " 0/1 *Running "');
  await p.typeAll('sleep 3'); // several probes: still not ready, and the rollout waits
  const held = await p.run('kubectl get pods', PROMPT, 1);
  expect(held.match(READY_WEB)).toHaveLength(3);
  expect(held).toMatch(/ 0\/1 +Running /);
  expect(await p.run('kubectl get deployment web', /\nweb +3\/3 +1 +3 /, 1)).toMatch(/UP-TO-DATE/);
  // The Service's endpoints: the three Ready pods, not the new one that is not ready.
  await p.run('kubectl expose deployment web --port 80', /service\/web exposed\n/);
  await until(p, 'kubectl get endpoints web 2>/dev/null | grep -q ":80,.*:80,.*:80"');
  const unready = / 0\/1 +Running +\d+ +\w+ +(\d+\.\d+\.\d+\.\d+) /.exec((await p.type('kubectl get pods -o wide')).out)![1];
  const ep = await p.run('kubectl get endpoints web', /\nweb +[0-9.:,]+ [^\n]*\n[^\n]*[#$] *$/);
  expect(ep.match(/\d+\.\d+\.\d+\.\d+:80/g)).toHaveLength(3);
  expect(ep).not.toContain(`${unready}:80`);
}

needs(missing, kubectlMissing).describe('the orchestration lessons in a browser', () => {
  beforeAll(async () => {
    lab = await startLessonLab('orchestration', 2);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('en/orchestration: a Deployment of three heals, moves off a stopped node, scales, and its log says why; the moved exercise failed then passed', async () => {
    const p = await lab.open('en/orchestration');
    await orchestrationDemo(p);
    await p.expectFail('moved', 'box cluster node stop');
    await p.typeAll('box cluster node stop node-3');
    await p.expectPass('moved');
    await p.run('box cluster down', PROMPT);
    await p.close();
  }, 12 * T);

  it('ko/orchestration: the same commands; the declared exercise answers with its Korean hint, then passes', async () => {
    const p = await lab.open('ko/orchestration');
    await clusterAndWeb(p);
    await p.expectFail('declared', 'kubectl get deployment api');
    expect(await p.exercise('declared').locator('[data-testid="exercise-hint"]').textContent()).toContain('레플리카셋');
    await p.typeAll(`printf '%s\\n' 'apiVersion: apps/v1' 'kind: Deployment' 'metadata:' '  name: api' 'spec:' '  replicas: 4' '  selector:' '    matchLabels:' '      app: api' '  template:' '    metadata:' '      labels:' '        app: api' '    spec:' '      containers:' '      - name: api' '        image: busybox' '        command: ["sleep", "3600"]' > /root/api.yaml`,
      'kubectl apply -f /root/api.yaml');
    await until(p, '[ "$(kubectl get deployment api -o jsonpath="{.status.readyReplicas}")" = 4 ]');
    expect((await p.check('declared')).status, 'four pods, none replaced yet').toBe('fail');
    await p.typeAll('kubectl delete $(kubectl get pods -l app=api -o name | head -1)');
    await p.expectPass('declared');
    await p.run('box cluster down', PROMPT);
    await p.close();
  }, 8 * T);

  it('en/rolling-updates: pod by pod, a broken version rolled back, readiness holding the rollout; the gated exercise failed then passed', async () => {
    const p = await lab.open('en/rolling-updates');
    await rollingUpdateDemo(p);
    await rollbackAndReadiness(p);
    await p.expectFail('gated', 'GET /healthz');
    await p.typeAll("sed -i 's|> /www/index.html && |> /www/index.html \\&\\& echo ok > /www/healthz \\&\\& |' /root/web.yaml",
      'kubectl apply -f /root/web.yaml');
    await p.expectPass('gated');
    await p.run('box cluster down', PROMPT);
    await p.close();
  }, 12 * T);

  it('ko/rolling-updates: the same rolling update; the surged exercise answers in Korean, then passes', async () => {
    const p = await lab.open('ko/rolling-updates');
    await rollingUpdateDemo(p);
    await p.expectFail('surged', 'rollingUpdate');
    expect(await p.exercise('surged').locator('[data-testid="exercise-hint"]').textContent()).toContain('디플로이먼트');
    await p.typeAll(String.raw`sed -i 's/^  replicas: 3$/  replicas: 3\n  strategy:\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0/' /root/web.yaml`,
      "sed -i 's/v2 from/v3 from/' /root/web.yaml", 'kubectl apply -f /root/web.yaml');
    await p.expectPass('surged');
    await p.run('box cluster down', PROMPT);
    await p.close();
  }, 8 * T);
});

