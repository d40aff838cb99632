// Checks Upshift's rendered Kubernetes manifests and its compose file (tests/k8s/k8s_test).
//
//   node validate.mjs --repo DIR --build DIR --compose FILE RENDERED.yaml...
//   node validate.mjs ... --self-test      (each check, shown to fail on a manifest made wrong)
//
// 1. Schema: every object validates against its Kubernetes API schema (kubernetes-models) or its
//    CRD's (@kubernetes-models/keda, @kubernetes-models/prometheus-operator), and, through the
//    TypeScript compiler and the same packages' types, has no field its kind does not know (what
//    `kubectl apply --validate=strict` refuses). Strimzi publishes no schema package: its
//    KafkaTopics are checked field by field below.
// 2. Semantics: the API server's own rules for the fields the manifests use, which no schema
//    carries (checkSemantics below lists them); no API server runs here.
// 3. Consistency with the binaries: every flag or UPSHIFT_* variable given to a service is one of
//    that binary's flags (from its --helpfull), no flag its help calls "Required" is missing, and
//    ports, probes, Services, monitors, autoscalers, topics and alert rules agree with each other
//    and with the source (libs/kafka/topics.h, deploy/monitoring/rules.yaml, the project version).
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import YAML from "yaml";

const argv = process.argv.slice(2);
const option = (name) => { const i = argv.indexOf(name); return i < 0 ? undefined : argv.splice(i, 2)[1]; };
const repo = option("--repo"), build = option("--build"), composeFile = option("--compose");
const selfTest = argv.includes("--self-test");
const rendered = argv.filter((a) => a !== "--self-test");
const tools = process.cwd();  // where npm put node_modules

const SERVICES = ["request", "status", "cloner", "migrator", "notifier"];
const version = fs.readFileSync(path.join(repo, "CMakeLists.txt"), "utf8").match(/project\(upshift VERSION ([0-9.]+)/)[1];
const topicsH = fs.readFileSync(path.join(repo, "libs/kafka/topics.h"), "utf8");
const TOPICS = [...topicsH.matchAll(/inline constexpr char k\w+\[\] = "([^"]+)"/g)].map((m) => m[1]).sort();
// Who may write each topic (SignersOf in topics.h) and what each service consumes (its main.cc):
// the ACLs a Kafka principal per service must have.
const TOPIC_OF = Object.fromEntries([...topicsH.matchAll(/inline constexpr char (k\w+)\[\] = "([^"]+)"/g)].map((m) => [m[1], m[2]]));
const WRITERS = Object.fromEntries([...topicsH.matchAll(/if \(topic == (k\w+)\) return \{([^}]*)\};/g)]
  .map((m) => [TOPIC_OF[m[1]], [...m[2].matchAll(/"(\w+)"/g)].map((x) => x[1])]));
const CONSUMES = Object.fromEntries(SERVICES.map((svc) => {
  const main = fs.readFileSync(path.join(repo, "services", svc, "main.cc"), "utf8");
  const m = main.match(/KafkaConsumer::Create\(\s*[\w.]+,\s*"upshift-(\w+)",\s*\{([^}]*)\}/);
  if (!m) throw new Error(`services/${svc}/main.cc: no KafkaConsumer::Create to read its topics from`);
  return [svc, [...m[2].matchAll(/topics::(k\w+)/g)].map((x) => TOPIC_OF[x[1]])];
}));

// --helpfull of each binary: flag name -> {help, def, required, unless}.
function helpOf(binary) {
  // (absl ends --helpfull with exit code 1.)
  const text = spawnSync(binary, ["--helpfull"], { encoding: "utf8" }).stdout;
  if (!text?.includes("--")) throw new Error(`${binary} --helpfull printed no flags`);
  const flags = new Map();
  let current = null;
  for (const line of text.split("\n")) {
    const start = line.match(/^ {4}--(\w+) \((.*)$/);
    if (start) { current = { name: start[1], text: start[2] }; flags.set(current.name, current); continue; }
    if (current && /^ {6}\S/.test(line)) current.text += " " + line.trim(); else current = null;
  }
  for (const f of flags.values()) {
    const cut = f.text.lastIndexOf("); default: ");
    f.help = f.text.slice(0, cut);
    f.def = f.text.slice(cut + "); default: ".length).replace(/;$/, "").replace(/^"(.*)"$/, "$1");
    const unless = f.help.match(/^Required unless --(\w+):/);
    f.required = f.help.startsWith("Required");
    f.unless = unless ? unless[1] : null;
  }
  return flags;
}
const HELP = Object.fromEntries([
  ...SERVICES.map((s) => [s, helpOf(path.join(build, "services", s, s))]),
  ["upgradectl", helpOf(path.join(build, "tools/upgradectl/upgradectl"))],
]);

const seconds = (d) => { const m = String(d).match(/^(\d+(?:\.\d+)?)(ms|s|m|h)$/); if (!m) throw new Error(`duration ${d}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]]; };

// The flags given on a command line: name -> value ("true" for a bare --flag).
function flagsOf(args, binary, where, errors) {
  const given = new Map();
  for (const arg of args) {
    const m = String(arg).match(/^--(\w+)(?:=(.*))?$/s);
    if (!m) { errors.push(`${where}: "${arg}" is not a --flag`); continue; }
    if (!HELP[binary].has(m[1])) errors.push(`${where}: --${m[1]} is not a flag of ${binary}`);
    given.set(m[1], m[2] ?? "true");
  }
  return given;
}

// A service's configuration: its command line and its UPSHIFT_* variables, checked against the binary.
function checkServiceConfig(binary, args, envNames, where, errors) {
  if (!SERVICES.includes(binary)) { errors.push(`${where}: runs "${binary}", not one of ${SERVICES}`); return new Map(); }
  const given = flagsOf(args, binary, where, errors);
  for (const name of envNames) {
    const m = name.match(/^UPSHIFT_([A-Z0-9_]+)$/);
    if (!m) { errors.push(`${where}: variable ${name} is not an UPSHIFT_* flag variable`); continue; }
    const flag = m[1].toLowerCase();
    if (!HELP[binary].has(flag)) errors.push(`${where}: ${name} names no flag of ${binary}`);
    if (given.has(flag)) errors.push(`${where}: --${flag} is given both as a flag and as ${name}`);
    given.set(flag, "(from the environment)");
  }
  for (const f of HELP[binary].values()) {
    if (!f.required || given.has(f.name)) continue;
    // "Required unless --x": --x given instead (a bool one set true).
    if (f.unless && given.has(f.unless) && given.get(f.unless) !== "false") continue;
    errors.push(`${where}: ${binary} requires --${f.name} (${f.help})`);
  }
  return given;
}

const key = (o) => `${o.kind}/${o.metadata?.name}`;
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

// ---- 1. schemas ----
async function modelFor(o) {
  const [group, ver] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
  if (group === "keda.sh") return [`@kubernetes-models/keda/keda.sh/${ver}/${o.kind}`, o.kind];
  if (group === "monitoring.coreos.com") return [`@kubernetes-models/prometheus-operator/monitoring.coreos.com/${ver}/${o.kind}`, o.kind];
  if (group === "kafka.strimzi.io" || group === "cert-manager.io") return null;
  return [group ? `kubernetes-models/${group}/${ver}/${o.kind}` : `kubernetes-models/${ver}/${o.kind}`, o.kind];
}

async function checkSchemas(objects, errors) {
  const lines = [];
  for (const [i, o] of objects.entries()) {
    const model = await modelFor(o);
    if (!model) {
      if (o.kind === "KafkaUser") checkKafkaUser(o, errors);
      else if (o.kind === "Certificate") checkCertificate(o, errors);
      else checkKafkaTopic(o, errors);
      continue;
    }
    let Model;
    try { Model = (await import(path.join(tools, "node_modules", model[0] + ".js")))[model[1]]; } catch (e) {
      errors.push(`${key(o)}: no schema for ${o.apiVersion} ${o.kind}`); continue;
    }
    try { new Model(o).validate(); } catch (e) { errors.push(`${key(o)}: ${e.message}`); }
    lines.push(`import type { I${o.kind} as T${i} } from "${model[0]}";`);
    lines.push(`export const o${i}: T${i} = ${JSON.stringify(o)};`);
  }
  const dir = fs.mkdtempSync(path.join(tools, "tsc-"));
  fs.writeFileSync(path.join(dir, "objects.ts"), lines.join("\n") + "\n");
  try {
    execFileSync(path.join(tools, "node_modules/.bin/tsc"), ["--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext",
      "--moduleResolution", "nodenext", "--target", "es2022", "--typeRoots", path.join(tools, "node_modules/@types"),
      path.join(dir, "objects.ts")], { encoding: "utf8", cwd: tools, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    for (const line of String(e.stdout).split("\n").filter((l) => l.includes("error TS"))) {
      const n = Number(line.match(/objects\.ts\((\d+),/)?.[1] ?? 0);
      const o = objects[Number(lines[n - 1]?.match(/^export const o(\d+)/)?.[1])];
      errors.push(`${o ? key(o) : "?"}: ${line.replace(/^.*error TS\d+: /, "")}`);
    }
  }
  fs.rmSync(dir, { recursive: true });
}

// Strimzi's KafkaUser, field by field (no schema package), and its ACLs against who may write and
// read each topic: Write on what the service signs, Read on what it consumes, Read on its group.
function checkKafkaUser(o, errors) {
  const known = { apiVersion: 1, kind: 1, metadata: 1, spec: 1 }, spec = { authentication: 1, authorization: 1, quotas: 1 };
  for (const k of Object.keys(o)) if (!known[k]) errors.push(`${key(o)}: unknown field ${k}`);
  for (const k of Object.keys(o.spec ?? {})) if (!spec[k]) errors.push(`${key(o)}: unknown field spec.${k}`);
  if (o.apiVersion !== "kafka.strimzi.io/v1beta2") errors.push(`${key(o)}: apiVersion ${o.apiVersion}`);
  if (!["scram-sha-512", "tls"].includes(o.spec?.authentication?.type)) errors.push(`${key(o)}: authentication ${o.spec?.authentication?.type}`);
  if (o.spec?.authorization?.type !== "simple") errors.push(`${key(o)}: authorization must be simple (ACLs)`);
  if (!o.metadata?.labels?.["strimzi.io/cluster"]) errors.push(`${key(o)}: no strimzi.io/cluster label`);
  const acls = o.spec?.authorization?.acls ?? [];
  for (const a of acls) {
    for (const k of Object.keys(a)) if (!["resource", "operations", "host", "type"].includes(k)) errors.push(`${key(o)}: unknown ACL field ${k}`);
    if (!["topic", "group", "cluster", "transactionalId"].includes(a.resource?.type)) errors.push(`${key(o)}: ACL resource type ${a.resource?.type}`);
  }
  const svc = o.metadata.name.replace(/^upshift-/, "");
  if (!SERVICES.includes(svc)) return;  // KEDA's, or another reader's
  const granted = (type, name, op) => acls.some((a) => a.resource?.type === type && a.resource?.name === name && a.operations?.includes(op));
  for (const topic of TOPICS) {
    const writes = (WRITERS[topic] ?? []).includes(svc), reads = CONSUMES[svc].includes(topic);
    if (writes !== granted("topic", topic, "Write")) errors.push(`${key(o)}: Write on ${topic} ${writes ? "missing" : "granted, but " + svc + " may not sign it"}`);
    if (reads !== granted("topic", topic, "Read")) errors.push(`${key(o)}: Read on ${topic} ${reads ? "missing" : "granted, but " + svc + " does not consume it"}`);
  }
  if (!granted("group", `upshift-${svc}`, "Read")) errors.push(`${key(o)}: Read on its group upshift-${svc} missing`);
}

// cert-manager's Certificate, field by field (no schema package here): a service's names its Service,
// for serving and for the gate's mTLS; a client's only (no server auth, KEDA's to Prometheus) names
// none. Each comes from an issuer and is renewed before it expires.
function checkCertificate(o, errors) {
  const known = { apiVersion: 1, kind: 1, metadata: 1, spec: 1 };
  const spec = { secretName: 1, commonName: 1, dnsNames: 1, usages: 1, duration: 1, renewBefore: 1, privateKey: 1, issuerRef: 1 };
  for (const k of Object.keys(o)) if (!known[k]) errors.push(`${key(o)}: unknown field ${k}`);
  for (const k of Object.keys(o.spec ?? {})) if (!spec[k]) errors.push(`${key(o)}: unknown field spec.${k}`);
  if (o.apiVersion !== "cert-manager.io/v1") errors.push(`${key(o)}: apiVersion ${o.apiVersion}`);
  const svc = o.metadata.name;
  if (o.spec?.secretName !== `${svc}-tls`) errors.push(`${key(o)}: secretName ${o.spec?.secretName} is not ${svc}-tls`);
  const serving = o.spec?.usages?.includes("server auth");
  if (serving && !o.spec?.dnsNames?.includes(svc)) errors.push(`${key(o)}: dnsNames lack the Service's name ${svc}`);
  if (!serving && o.spec?.dnsNames) errors.push(`${key(o)}: a client-only certificate names no Service`);
  if (!o.spec?.usages?.includes("client auth")) errors.push(`${key(o)}: usages lack client auth`);
  if (!o.spec?.issuerRef?.name) errors.push(`${key(o)}: no issuerRef`);
  if (!(seconds(o.spec?.renewBefore ?? "0s") > 0 && seconds(o.spec.renewBefore) < seconds(o.spec?.duration ?? "0s"))) errors.push(`${key(o)}: renewBefore must fall within duration`);
}

function checkKafkaTopic(o, errors) {
  const known = { apiVersion: 1, kind: 1, metadata: 1, spec: 1 }, spec = { topicName: 1, partitions: 1, replicas: 1, config: 1 };
  for (const k of Object.keys(o)) if (!known[k]) errors.push(`${key(o)}: unknown field ${k}`);
  for (const k of Object.keys(o.spec ?? {})) if (!spec[k]) errors.push(`${key(o)}: unknown field spec.${k}`);
  if (o.apiVersion !== "kafka.strimzi.io/v1beta2") errors.push(`${key(o)}: apiVersion ${o.apiVersion}`);
  if (!Number.isInteger(o.spec?.partitions) || !Number.isInteger(o.spec?.replicas)) errors.push(`${key(o)}: partitions and replicas must be integers`);
  if (!o.metadata?.labels?.["strimzi.io/cluster"]) errors.push(`${key(o)}: no strimzi.io/cluster label`);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.metadata?.name ?? "")) errors.push(`${key(o)}: not a DNS-1123 name`);
}

// ---- 2. the API server's semantic rules, for the fields the manifests use ----
// Encoded (from Kubernetes' validation of these objects, 1.27+):
// - topologySpreadConstraints: maxSkew > 0; topologyKey set; whenUnsatisfiable DoNotSchedule or
//   ScheduleAnyway; matchLabelKeys only with a labelSelector, and no key both in matchLabelKeys and
//   in the labelSelector (the API server refuses it); and, Upshift's own rule, the selector takes
//   the pod itself (a constraint that selects none of its pods spreads nothing).
// - Deployment: spec.selector matches the pod template's labels (refused otherwise).
// - PodDisruptionBudget: minAvailable or maxUnavailable, not both; its selector takes some
//   Deployment's pods; Upshift's rule: unhealthyPodEvictionPolicy AlwaysAllow, so that a drain never
//   stalls on pods made unready by a dependency's outage.
// - An autoscaled Deployment (an HPA's or a ScaledObject's target) sets no spec.replicas: each apply
//   would reset what the autoscaler decided.
// - KEDA: cooldownPeriod only governs scaling to zero, so a ScaledObject whose minimum is 1 or more
//   sets its scale-down window in advanced.horizontalPodAutoscalerConfig.behavior instead; a
//   Prometheus trigger filters its query to the namespace, errs on an empty answer
//   (ignoreNullValues "false"), reaches Prometheus over HTTPS (authModes tls, its TriggerAuthentication
//   giving ca, cert and key, the cert written by a Certificate) and its ScaledObject has a fallback
//   within its bounds.
function selectorMatches(selector, labels) {
  if (!selector) return false;
  if (!matches(selector.matchLabels, labels)) return false;
  return (selector.matchExpressions ?? []).every((e) => {
    const has = Object.hasOwn(labels ?? {}, e.key), v = labels?.[e.key];
    switch (e.operator) {
      case "In": return has && e.values.includes(v);
      case "NotIn": return !has || !e.values.includes(v);
      case "Exists": return has;
      case "DoesNotExist": return !has;
      default: return false;
    }
  });
}

function checkSemantics(file, objects, errors) {
  const where = (o, what) => `${path.basename(file)}: ${key(o)}: ${what}`;
  const deployments = objects.filter((o) => o.kind === "Deployment");
  for (const d of deployments) {
    const labels = d.spec.template.metadata?.labels ?? {};
    if (!selectorMatches(d.spec.selector, labels)) errors.push(where(d, "spec.selector does not match the template's labels"));
    for (const [i, c] of (d.spec.template.spec.topologySpreadConstraints ?? []).entries()) {
      const at = `topologySpreadConstraints[${i}]`;
      if (!(c.maxSkew > 0)) errors.push(where(d, `${at}.maxSkew must be greater than 0`));
      if (!c.topologyKey) errors.push(where(d, `${at}.topologyKey is required`));
      if (!["DoNotSchedule", "ScheduleAnyway"].includes(c.whenUnsatisfiable)) errors.push(where(d, `${at}.whenUnsatisfiable ${c.whenUnsatisfiable}`));
      const selectorKeys = new Set([...Object.keys(c.labelSelector?.matchLabels ?? {}),
        ...(c.labelSelector?.matchExpressions ?? []).map((e) => e.key)]);
      for (const k of c.matchLabelKeys ?? []) {
        if (!c.labelSelector) errors.push(where(d, `${at}.matchLabelKeys needs a labelSelector`));
        if (selectorKeys.has(k)) errors.push(where(d, `${at}: "${k}" exists in both matchLabelKeys and labelSelector`));
      }
      if (!selectorMatches(c.labelSelector, labels)) errors.push(where(d, `${at}.labelSelector does not select the pod itself`));
    }
  }
  for (const b of objects.filter((o) => o.kind === "PodDisruptionBudget")) {
    if ((b.spec.minAvailable !== undefined) === (b.spec.maxUnavailable !== undefined)) errors.push(where(b, "exactly one of minAvailable and maxUnavailable"));
    if (!deployments.some((d) => selectorMatches(b.spec.selector, d.spec.template.metadata?.labels))) errors.push(where(b, "selects no Deployment's pods"));
    if (b.spec.unhealthyPodEvictionPolicy !== "AlwaysAllow") errors.push(where(b, "unhealthyPodEvictionPolicy must be AlwaysAllow (a drain must not stall on unready pods)"));
  }
  const scaled = new Set([
    ...objects.filter((o) => o.kind === "HorizontalPodAutoscaler").map((h) => h.spec.scaleTargetRef.name),
    ...objects.filter((o) => o.kind === "ScaledObject").map((so) => so.spec.scaleTargetRef.name)]);
  for (const d of deployments) {
    if (scaled.has(d.metadata.name) && d.spec.replicas !== undefined) errors.push(where(d, "spec.replicas is set, but an autoscaler owns it"));
  }
  for (const so of objects.filter((o) => o.kind === "ScaledObject")) {
    if (so.spec.cooldownPeriod !== undefined && so.spec.minReplicaCount >= 1) {
      errors.push(where(so, "cooldownPeriod only governs scaling to zero; with a minimum of 1 or more, set the HPA's scaleDown window"));
    }
    const prometheus = so.spec.triggers.filter((t) => t.type === "prometheus");
    for (const t of prometheus) {
      if (!t.metadata.query.includes(`namespace="upshift"`)) errors.push(where(so, "the Prometheus query is not filtered to the upshift namespace"));
      if (t.metadata.ignoreNullValues !== "false") errors.push(where(so, "an empty Prometheus answer must be an error (ignoreNullValues \"false\"), not 0"));
      if (!t.metadata.serverAddress.startsWith("https://") || t.metadata.authModes !== "tls") errors.push(where(so, "Prometheus is reached over HTTPS (authModes tls), never plain HTTP"));
    }
    const fb = so.spec.fallback;
    if (prometheus.length && !(fb && fb.failureThreshold >= 1 && fb.replicas >= so.spec.minReplicaCount && fb.replicas <= so.spec.maxReplicaCount)) {
      errors.push(where(so, "a Prometheus-scaled object needs a fallback within its bounds"));
    }
  }
}

// ---- 3. consistency ----
function checkManifests(file, objects, errors) {
  const where = (o, what = "") => `${path.basename(file)}: ${key(o)}${what}`;
  const of = (kind) => objects.filter((o) => o.kind === kind);
  const deployments = of("Deployment"), services = of("Service");
  if (of("Secret").length) errors.push(`${file}: Secrets must be referenced, never written out`);
  for (const o of objects) {
    if (o.kind !== "Namespace" && o.metadata?.namespace !== "upshift") errors.push(where(o, ": not in namespace upshift"));
    if (o.metadata?.labels?.["app.kubernetes.io/part-of"] !== "upshift") errors.push(where(o, ": no app.kubernetes.io/part-of=upshift"));
  }
  if (deployments.length !== SERVICES.length) errors.push(`${file}: ${deployments.length} Deployments, not one per service`);
  // Each service's image has a kustomize images: entry of its own, so that one service rolls at a time.
  const baseImages = YAML.parse(fs.readFileSync(path.join(repo, "deploy/k8s/base/kustomization.yaml"), "utf8")).images ?? [];
  for (const svc of SERVICES) {
    const source = YAML.parseAllDocuments(fs.readFileSync(path.join(repo, "deploy/k8s/base", `${svc}.yaml`), "utf8"))
      .map((d) => d.toJS()).find((o) => o?.kind === "Deployment");
    const image = source?.spec?.template?.spec?.containers?.[0]?.image;
    if (image !== `upshift-${svc}` || !baseImages.some((i) => i.name === image)) errors.push(`${file}: ${svc}'s image is not its own images: entry upshift-${svc}`);
  }

  for (const d of deployments) {
    const pod = d.spec.template.spec, [c] = pod.containers;
    const w = (what) => where(d, what);
    if (pod.containers.length !== 1) errors.push(w(": one container expected"));
    const image = c.image.match(/^(.*)\/upshift:(.*)$/);
    if (!image || image[2] !== version) errors.push(w(`: image ${c.image} is not upshift:${version}`));
    const binary = c.args?.[0];
    const given = checkServiceConfig(binary, c.args.slice(1), (c.env ?? []).map((e) => e.name), w(""), errors);
    if (c.envFrom) errors.push(w(": envFrom hides which variables are set; list them in env"));
    if (d.metadata.name !== `upshift-${binary}`) errors.push(w(`: runs ${binary}`));
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.configMapKeyRef;
      if (ref) {
        const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === ref.name);
        if (!cm || !(ref.key in (cm.data ?? {}))) errors.push(w(`: ${e.name} reads ${ref.name}/${ref.key}, which the manifests lack`));
      }
    }
    // The hosting inventory: a key of a mounted ConfigMap, its connection strings on mounted volumes.
    const inventory = given.get("hosting_inventory");
    if (inventory && inventory !== "(from the environment)") {
      const mount = (c.volumeMounts ?? []).find((m) => inventory.startsWith(`${m.mountPath}/`));
      const volume = mount && (pod.volumes ?? []).find((v) => v.name === mount.name);
      const cm = volume?.configMap && objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === volume.configMap.name);
      const text = cm?.data?.[inventory.slice(mount.mountPath.length + 1)];
      if (text === undefined) errors.push(w(`: --hosting_inventory=${inventory} is no key of a mounted ConfigMap`));
      else checkInventory(text, (c.volumeMounts ?? []).map((m) => m.mountPath), w(""), errors);
    }
    // Ports: every listener the flags open is a declared port, and the probes use them.
    const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
    for (const flag of ["listen", "gate_listen", "health_listen", "metrics_listen"]) {
      if (!HELP[binary].has(flag)) continue;
      const value = given.get(flag) && given.get(flag) !== "(from the environment)" ? given.get(flag) : HELP[binary].get(flag).def;
      const port = Number(String(value || `:${9460 + SERVICES.indexOf(binary) + 1}`).split(":").pop());
      if (![...ports.values()].includes(port)) errors.push(w(`: --${flag} listens on ${port}, not a containerPort`));
    }
    if (ports.get("metrics") !== 9460 + SERVICES.indexOf(binary) + 1) errors.push(w(": metrics port is not the service's default"));
    for (const probe of ["startupProbe", "livenessProbe"]) {
      const p = c[probe]?.tcpSocket?.port;
      if (!p || !ports.has(p)) errors.push(w(`: ${probe} is not a TCP probe of a named port`));
    }
    const exec = c.readinessProbe?.exec?.command ?? [];
    if (exec[0] !== "upgradectl" || exec[1] !== "probe") errors.push(w(": readiness is not `upgradectl probe`"));
    else {
      const positional = exec.slice(2).filter((a) => !a.startsWith("--"));
      const probeFlags = flagsOf(exec.slice(2).filter((a) => a.startsWith("--")), "upgradectl", w(" readinessProbe"), errors);
      const port = Number(positional[0]?.split(":").pop());
      if (![...ports.values()].includes(port)) errors.push(w(`: readiness probes port ${port}, not a containerPort`));
      const serverName = probeFlags.get("tls_server_name");
      const svc = services.find((s) => s.metadata.name === serverName);
      if (!svc || !matches(svc.spec.selector, d.spec.template.metadata.labels)) errors.push(w(`: readiness checks the certificate for "${serverName}", which is not this pod's Service`));
      const ca = probeFlags.get("tls_ca");
      if (!ca || ca !== given.get("tls_ca")) errors.push(w(": readiness does not trust the service's own --tls_ca"));
    }
    // Files the flags name lie in mounted volumes.
    for (const [flag, value] of given) {
      if (!String(value).startsWith("/etc/")) continue;
      const mount = (c.volumeMounts ?? []).find((m) => value === m.mountPath || value.startsWith(m.mountPath + "/"));
      if (!mount) errors.push(w(`: --${flag}=${value} is in no mounted volume`));
      else if (!(pod.volumes ?? []).some((v) => v.name === mount.name)) errors.push(w(`: volume ${mount.name} is not defined`));
    }
    // Shutdown fits: preStop pause + --shutdown_grace < terminationGracePeriodSeconds.
    const grace = seconds(given.get("shutdown_grace") ?? HELP[binary].get("shutdown_grace").def);
    const pause = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    if (!(pod.terminationGracePeriodSeconds > grace + pause)) errors.push(w(`: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} <= ${pause} s preStop + ${grace} s --shutdown_grace`));
    // The restricted Pod Security Standard, and resources.
    const sc = c.securityContext ?? {}, psc = pod.securityContext ?? {};
    if (psc.runAsNonRoot !== true || psc.seccompProfile?.type !== "RuntimeDefault") errors.push(w(": pod not runAsNonRoot with RuntimeDefault seccomp"));
    if (sc.allowPrivilegeEscalation !== false || sc.readOnlyRootFilesystem !== true || !isDeepStrictEqual(sc.capabilities?.drop, ["ALL"])) errors.push(w(": container not restricted (no escalation, read-only root, drop ALL)"));
    if (!c.resources?.requests?.memory || !c.resources?.requests?.cpu || !c.resources?.limits?.memory) errors.push(w(": requests (cpu, memory) and a memory limit are needed"));
  }

  for (const s of services) {
    const d = deployments.find((d) => matches(s.spec.selector, d.spec.template.metadata.labels));
    if (!d) { errors.push(where(s, ": selects no Deployment")); continue; }
    const names = new Set((d.spec.template.spec.containers[0].ports ?? []).map((p) => p.name));
    for (const p of s.spec.ports) if (!names.has(p.targetPort)) errors.push(where(s, `: targetPort ${p.targetPort} is no port of ${d.metadata.name}`));
  }
  for (const o of [...of("ServiceMonitor"), ...of("PrometheusRule")]) {
    if (!o.metadata.labels?.release) errors.push(where(o, ": no release label: a stock kube-prometheus-stack would ignore it"));
  }
  for (const m of of("ServiceMonitor")) {
    const s = services.find((s) => matches(m.spec.selector.matchLabels, s.metadata.labels));
    if (!s) { errors.push(where(m, ": selects no Service")); continue; }
    for (const e of m.spec.endpoints) {
      if (!s.spec.ports.some((p) => p.name === e.port)) errors.push(where(m, `: port ${e.port} is not on ${s.metadata.name}`));
      if (e.scheme !== "https" || e.tlsConfig?.serverName !== s.metadata.name) errors.push(where(m, ": must scrape over HTTPS, checking the Service's name"));
    }
  }
  for (const b of of("PodDisruptionBudget")) if (!deployments.some((d) => matches(b.spec.selector.matchLabels, d.spec.template.metadata.labels))) errors.push(where(b, ": selects no Deployment"));

  // Topics: the Job's or the KafkaTopics' are topics.h's, and no group scales past their partitions.
  const job = of("Job").find((j) => j.metadata.name === "upshift-topics"), kafkaTopics = of("KafkaTopic");
  let partitions;
  if (job) {
    const env = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e) => [e.name, e.value]));
    if (!isDeepStrictEqual(String(env.TOPICS).split(/\s+/).sort(), TOPICS)) errors.push(where(job, `: topics ${env.TOPICS} are not ${TOPICS}`));
    partitions = Number(env.PARTITIONS);
  }
  if (kafkaTopics.length) {
    if (!isDeepStrictEqual(kafkaTopics.map((t) => t.spec.topicName).sort(), TOPICS)) errors.push(`${file}: KafkaTopics are not ${TOPICS}`);
    partitions = Math.min(...kafkaTopics.map((t) => t.spec.partitions));
  }
  if (!(job ? !kafkaTopics.length : kafkaTopics.length)) errors.push(`${file}: the topics need the Job or the KafkaTopics, one of them`);
  // With cert-manager: a Certificate for every TLS Secret a Deployment mounts.
  const certificates = of("Certificate");
  if (certificates.length) {
    for (const d of deployments) {
      for (const v of d.spec.template.spec.volumes ?? []) {
        const name = v.secret?.secretName;
        if (name && /-tls$/.test(name) && !certificates.some((c) => c.spec.secretName === name)) errors.push(where(d, `: no Certificate writes ${name}`));
      }
    }
  }
  // With Strimzi: its bootstrap Service (<cluster>-kafka-bootstrap), a user per service, one cluster.
  const strimzi = [...kafkaTopics, ...of("KafkaUser")];
  if (strimzi.length) {
    const clusters = new Set(strimzi.map((o) => o.metadata.labels?.["strimzi.io/cluster"]));
    const [cluster] = clusters;
    if (clusters.size !== 1) errors.push(`${file}: KafkaTopics and KafkaUsers name clusters ${[...clusters]}`);
    const brokers = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "upshift-config")?.data?.["kafka-brokers"] ?? "";
    if (!brokers.split(",").every((b) => b.startsWith(`${cluster}-kafka-bootstrap.`))) errors.push(`${file}: kafka-brokers ${brokers} is not Strimzi's ${cluster}-kafka-bootstrap Service`);
    for (const svc of SERVICES) if (!of("KafkaUser").some((u) => u.metadata.name === `upshift-${svc}`)) errors.push(`${file}: no KafkaUser upshift-${svc}`);
  }
  for (const so of of("ScaledObject")) {
    const d = deployments.find((d) => d.metadata.name === so.spec.scaleTargetRef.name);
    if (!d) { errors.push(where(so, ": scales no Deployment")); continue; }
    if (!(so.spec.maxReplicaCount <= partitions)) errors.push(where(so, `: maxReplicaCount ${so.spec.maxReplicaCount} > ${partitions} partitions`));
    if (!(so.spec.minReplicaCount >= 1)) errors.push(where(so, ": minReplicaCount must be at least 1"));
    const group = `upshift-${d.spec.template.spec.containers[0].args[0]}`;
    for (const t of so.spec.triggers) {
      if (t.type === "kafka") {
        if (t.metadata.consumerGroup !== group) errors.push(where(so, `: lag of group ${t.metadata.consumerGroup}, not ${group}`));
        if (!d.spec.template.spec.containers[0].env.some((e) => e.name === t.metadata.bootstrapServersFromEnv)) errors.push(where(so, ": bootstrapServersFromEnv names no variable of the target"));
        if (!of("TriggerAuthentication").some((a) => a.metadata.name === t.authenticationRef?.name)) errors.push(where(so, ": authenticationRef names no TriggerAuthentication"));
      } else if (t.type === "prometheus") {
        if (!t.metadata.query.includes(`group="${group}"`)) errors.push(where(so, `: query is not about ${group}`));
        const auth = of("TriggerAuthentication").find((a) => a.metadata.name === t.authenticationRef?.name);
        const params = new Set((auth?.spec.secretTargetRef ?? []).map((r) => r.parameter));
        if (!["ca", "cert", "key"].every((p) => params.has(p))) errors.push(where(so, ": its TriggerAuthentication lacks the ca, cert and key of KEDA's tls mode"));
        const cert = auth?.spec.secretTargetRef.find((r) => r.parameter === "cert")?.name;
        if (cert && of("Certificate").length && !of("Certificate").some((c) => c.spec.secretName === cert)) errors.push(where(so, `: no Certificate writes ${cert}`));
      } else errors.push(where(so, `: trigger ${t.type}`));
    }
  }
  for (const h of of("HorizontalPodAutoscaler")) if (!deployments.some((d) => d.metadata.name === h.spec.scaleTargetRef.name)) errors.push(where(h, ": scales no Deployment"));
  for (const np of of("NetworkPolicy")) {
    const selected = deployments.filter((d) => !np.spec.podSelector.matchLabels || matches(np.spec.podSelector.matchLabels, d.spec.template.metadata.labels))
      .filter((d) => (np.spec.podSelector.matchExpressions ?? []).every((e) => e.values.includes(d.spec.template.metadata.labels[e.key])));
    const open = new Set(selected.flatMap((d) => d.spec.template.spec.containers[0].ports.map((p) => p.containerPort)));
    for (const rule of np.spec.ingress ?? []) for (const p of rule.ports ?? []) if (!open.has(p.port)) errors.push(where(np, `: port ${p.port} is open on none of its pods`));
  }
  const rule = of("PrometheusRule")[0];
  if (rule) {
    // Every alert links its runbook: a section of the README's Runbooks, named after it.
    const readme = fs.readFileSync(path.join(repo, "README.md"), "utf8");
    for (const r of rule.spec.groups.flatMap((g) => g.rules).filter((r) => r.alert)) {
      if (!String(r.annotations?.runbook_url).endsWith(`#${r.alert.toLowerCase()}`)) errors.push(where(rule, `: ${r.alert} has no runbook_url to its section`));
      if (!readme.includes(`\n#### ${r.alert}\n`)) errors.push(where(rule, `: the README has no runbook for ${r.alert}`));
    }
    const groups = YAML.parse(fs.readFileSync(path.join(repo, "deploy/monitoring/rules.yaml"), "utf8")).groups;
    if (!isDeepStrictEqual(rule.spec.groups, groups)) errors.push(where(rule, ": spec.groups differ from deploy/monitoring/rules.yaml"));
  }
}

// A hosting inventory (protos/upgrade/v1/inventory.proto, text format) as a deployment carries it:
// servers named once each, every connection string's file on a volume the container mounts. (The
// binaries' own parser checks the rest when they read it: tests/unit/inventory_test.cc.)
function checkInventory(text, mountTargets, where, errors) {
  const names = [...text.matchAll(/^\s*name:\s*"([^"]*)"/gm)].map((m) => m[1]);
  if (!names.length) errors.push(`${where}: the hosting inventory names no server`);
  if (new Set(names).size !== names.length) errors.push(`${where}: the hosting inventory names a server twice: ${names}`);
  for (const [, file] of text.matchAll(/conninfo_file:\s*"([^"]*)"/g)) {
    if (!mountTargets.some((t) => file.startsWith(`${t}/`))) errors.push(`${where}: conninfo_file ${file} is on no mounted volume`);
  }
}

function checkCompose(compose, errors) {
  const where = (name) => `compose.yaml: ${name}`;
  for (const name of SERVICES) {
    const s = compose.services?.[name];
    if (!s) { errors.push(where(`no service ${name}`)); continue; }
    if (s.command?.[0] !== name) errors.push(where(`${name} runs ${s.command?.[0]}`));
    const given = checkServiceConfig(name, s.command.slice(1), Object.keys(s.environment ?? {}), where(name), errors);
    const inventory = given.get("hosting_inventory");
    if (inventory && inventory !== "(from the environment)") {
      const volumes = (s.volumes ?? []).map((v) => String(v).split(":"));
      const source = volumes.find(([, target]) => target === inventory)?.[0];
      const file = source && path.resolve(path.dirname(composeFile), source);
      if (!file || !fs.existsSync(file)) errors.push(where(`${name}: --hosting_inventory=${inventory} is mounted from no file of deploy/compose`));
      else checkInventory(fs.readFileSync(file, "utf8"), volumes.map(([, target]) => target), where(name), errors);
    }
    if (s.user !== "10001:10001" || s.read_only !== true) errors.push(where(`${name} must run as 10001 on a read-only root`));
  }
  const topics = [...String(compose.services?.topics?.command?.[0]).matchAll(/upgrade\.\w+/g)].map((m) => m[0]).sort();
  if (!isDeepStrictEqual(topics, TOPICS)) errors.push(where(`topics makes ${topics}, not ${TOPICS}`));
}

async function checkAll(files, compose) {
  const errors = [];
  for (const [file, objects] of files) {
    await checkSchemas(objects, errors);
    checkSemantics(file, objects, errors);
    checkManifests(file, objects, errors);
  }
  checkCompose(compose, errors);
  return errors;
}

const files = new Map(rendered.map((f) => [f, YAML.parseAllDocuments(fs.readFileSync(f, "utf8")).map((d) => d.toJS())]));
const compose = YAML.parse(fs.readFileSync(composeFile, "utf8"), { merge: true });
for (const [file, objects] of files) console.log(`${path.basename(file)}: ${objects.length} objects: ${[...new Set(objects.map((o) => o.kind))].join(", ")}`);
const errors = await checkAll(files, compose);
for (const e of errors) console.log("ERROR " + e);
if (errors.length) process.exit(1);
console.log(`all objects valid and consistent with the binaries (${Object.keys(HELP).join(", ")}), topics.h (${TOPICS.length} topics) and rules.yaml`);

if (selfTest) {
  // Each check must catch its fault: one fault at a time, on a copy of the production render.
  const [file, objects] = [...files].find(([f]) => f.includes("production.yaml"));
  const deployment = (o, name) => o.find((x) => x.kind === "Deployment" && x.metadata.name === name);
  const faults = {
    "an unknown field": [(o) => { deployment(o, "upshift-cloner").spec.template.spec.containers[0].imagePullPolcy = "Always"; }, /does not exist in type|imagePullPolcy/],
    "a wrong type": [(o) => { deployment(o, "upshift-status").spec.revisionHistoryLimit = "three"; }, /revisionHistoryLimit/],
    "an unknown flag": [(o) => { deployment(o, "upshift-migrator").spec.template.spec.containers[0].args.push("--max_in_fligth=4"); }, /--max_in_fligth is not a flag of migrator/],
    "a variable of another binary": [(o) => { deployment(o, "upshift-cloner").spec.template.spec.containers[0].env.push({ name: "UPSHIFT_CATALOG", value: "/x" }); }, /UPSHIFT_CATALOG names no flag of cloner/],
    "a missing required flag": [(o) => { const c = deployment(o, "upshift-request").spec.template.spec.containers[0]; c.args = c.args.filter((a) => !a.startsWith("--hosting_inventory")); }, /request requires --hosting_inventory/],
    "an inventory whose connection string no volume holds": [(o) => {
      const cm = o.find((x) => x.kind === "ConfigMap" && x.metadata.name === "upshift-hosting-inventory");
      cm.data["servers.textproto"] = cm.data["servers.textproto"].replace("/etc/upshift/hosting/", "/etc/secrets/");
    }, /conninfo_file \/etc\/secrets\/pg-1 is on no mounted volume/],
    "a missing TLS file": [(o) => { const c = deployment(o, "upshift-notifier").spec.template.spec.containers[0]; c.args = c.args.filter((a) => !a.startsWith("--tls_key")); }, /notifier requires --tls_key/],
    "more replicas than partitions": [(o) => { o.find((x) => x.kind === "ScaledObject" && x.metadata.name === "upshift-migrator").spec.maxReplicaCount = 13; }, /maxReplicaCount 13 > 12 partitions/],
    "a grace period shorter than the shutdown": [(o) => { deployment(o, "upshift-status").spec.template.spec.terminationGracePeriodSeconds = 20; }, /terminationGracePeriodSeconds 20/],
    "rules out of step": [(o) => { o.find((x) => x.kind === "PrometheusRule").spec.groups[0].rules.pop(); }, /differ from deploy\/monitoring\/rules.yaml/],
    "a Secret written out": [(o) => { o.push({ apiVersion: "v1", kind: "Secret", metadata: { name: "x", namespace: "upshift", labels: { "app.kubernetes.io/part-of": "upshift" } }, stringData: { a: "b" } }); }, /Secrets must be referenced/],
    "a root container": [(o) => { deployment(o, "upshift-request").spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false; }, /not restricted/],
    "a topology-spread key in both matchLabelKeys and the selector": [(o) => {
      const c = deployment(o, "upshift-status").spec.template.spec.topologySpreadConstraints[0];
      c.labelSelector = { matchExpressions: [{ key: "app.kubernetes.io/name", operator: "Exists" }] };
    }, /exists in both matchLabelKeys and labelSelector/],
    "a topology spread that selects none of its pods": [(o) => {
      deployment(o, "upshift-cloner").spec.template.spec.topologySpreadConstraints[1].labelSelector = { matchLabels: { app: "other" } };
    }, /labelSelector does not select the pod itself/],
    "a selector the template does not match": [(o) => {
      deployment(o, "upshift-notifier").spec.selector.matchLabels = { "app.kubernetes.io/name": "upshift-other" };
    }, /spec.selector does not match the template's labels/],
    "replicas on an autoscaled Deployment": [(o) => { deployment(o, "upshift-migrator").spec.replicas = 2; }, /spec.replicas is set, but an autoscaler owns it/],
    "a budget that stalls drains": [(o) => { delete o.find((x) => x.kind === "PodDisruptionBudget").spec.unhealthyPodEvictionPolicy; }, /unhealthyPodEvictionPolicy must be AlwaysAllow/],
    "a budget with both bounds": [(o) => { o.find((x) => x.kind === "PodDisruptionBudget").spec.minAvailable = 1; }, /exactly one of minAvailable and maxUnavailable/],
    "a cooldown that never applies": [(o) => { o.find((x) => x.kind === "ScaledObject" && x.metadata.name === "upshift-migrator").spec.cooldownPeriod = 900; }, /cooldownPeriod only governs scaling to zero/],
    "a backlog scaler without a fallback": [(o) => { delete o.find((x) => x.kind === "ScaledObject" && x.metadata.name === "upshift-cloner").spec.fallback; }, /needs a fallback within its bounds/],
    "a backlog scaler over plain HTTP": [(o) => { o.find((x) => x.kind === "ScaledObject" && x.metadata.name === "upshift-migrator").spec.triggers[0].metadata.serverAddress = "http://prometheus-operated.monitoring.svc:9090"; }, /over HTTPS \(authModes tls\)/],
    "a backlog scaler without its client certificate": [(o) => { o.splice(o.findIndex((x) => x.kind === "Certificate" && x.metadata.name === "upshift-keda-prometheus"), 1); }, /no Certificate writes upshift-keda-prometheus-tls/],
    "a backlog that reads 0 when missing": [(o) => { delete o.find((x) => x.kind === "ScaledObject" && x.metadata.name === "upshift-cloner").spec.triggers[0].metadata.ignoreNullValues; }, /ignoreNullValues/],
    "a monitor Prometheus would ignore": [(o) => { delete o.find((x) => x.kind === "ServiceMonitor").metadata.labels.release; }, /no release label/],
    "a Kafka user that may write what its service may not sign": [(o) => {
      o.find((x) => x.kind === "KafkaUser" && x.metadata.name === "upshift-notifier").spec.authorization.acls.push(
        { resource: { type: "topic", name: "upgrade.events", patternType: "literal" }, operations: ["Write"] });
    }, /upshift-notifier: Write on upgrade.events granted/, "production-strimzi.yaml"],
    "a Kafka user that cannot read what its service consumes": [(o) => {
      const u = o.find((x) => x.kind === "KafkaUser" && x.metadata.name === "upshift-status");
      u.spec.authorization.acls = u.spec.authorization.acls.filter((a) => a.resource.name !== "upgrade.orders");
    }, /upshift-status: Read on upgrade.orders missing/, "production-strimzi.yaml"],
    "brokers that are not Strimzi's bootstrap": [(o) => {
      o.find((x) => x.kind === "ConfigMap" && x.metadata.name === "upshift-config").data["kafka-brokers"] = "kafka-bootstrap.kafka.svc:9093";
    }, /is not Strimzi's kafka-kafka-bootstrap Service/, "production-strimzi.yaml"],
    "an alert without its runbook": [(o) => { delete o.find((x) => x.kind === "PrometheusRule").spec.groups[0].rules[0].annotations.runbook_url; }, /UpshiftUpgradeStalled has no runbook_url/],
    "a certificate that does not name its Service": [(o) => { o.find((x) => x.kind === "Certificate" && x.metadata.name === "upshift-request").spec.dnsNames = ["request"]; }, /dnsNames lack the Service's name upshift-request/],
    "a TLS Secret no Certificate writes": [(o) => { o.splice(o.findIndex((x) => x.kind === "Certificate" && x.metadata.name === "upshift-cloner"), 1); }, /no Certificate writes upshift-cloner-tls/],
    "a probe of the wrong name": [(o) => { const c = deployment(o, "upshift-cloner").spec.template.spec.containers[0]; c.readinessProbe.exec.command = c.readinessProbe.exec.command.map((a) => a.replace("upshift-cloner", "upshift-migrator")); }, /not this pod's Service/],
  };
  let failed = 0;
  for (const [name, [mutate, expected, render = "production.yaml"]] of Object.entries(faults)) {
    const [faultFile, faultObjects] = render === "production.yaml" ? [file, objects] : [...files].find(([f]) => f.endsWith(render));
    const copy = structuredClone(faultObjects);
    mutate(copy);
    const found = await checkAll(new Map([[faultFile, copy]]), compose);
    const caught = found.some((e) => expected.test(e));
    console.log(`self-test: ${name}: ${caught ? "caught" : "NOT CAUGHT"}${caught ? "" : " (" + found.join("; ") + ")"}`);
    if (!caught) failed++;
  }
  const brokenCompose = YAML.parse(fs.readFileSync(composeFile, "utf8"), { merge: true });
  delete brokenCompose.services.migrator.environment.UPSHIFT_CATALOG;
  const composeCaught = (await checkAll(new Map(), brokenCompose)).some((e) => /migrator requires --catalog/.test(e));
  console.log(`self-test: compose without a required variable: ${composeCaught ? "caught" : "NOT CAUGHT"}`);
  if (!composeCaught) failed++;
  if (failed) process.exit(1);
}
