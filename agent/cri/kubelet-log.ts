// Pure: a kubelet log line -> why it could not create a static pod's mirror pod. The error it logs is
// the API server's answer to its create (admission, quota, authorization, an unreachable API server).
// Formats, as kubelets have written them (pkg/kubelet/kubelet.go):
// klog text, 1.2x+:  E1123 17:40:01.123456 12345 kubelet.go:3501] "Failed creating a mirror pod" err="pods \"x\" is
// forbidden: …" pod="kube-system/x"
//                      (1.20–1.2x: "Failed creating a mirror pod for"; long values as err=<\n\t…\n >)
//   klog JSON:         {"msg":"Failed creating a mirror pod","pod":{"name":"x","namespace":"kube-system"},"err":"…"}
//   glog, before 1.20: Failed creating a mirror pod for "x_kube-system(hash)": pods "x" is forbidden: …
// and, for every static pod of the node at once: "No need to create a mirror pod, since failed to get
// node info from the cluster" err="node \"n\" not found" node="n".

export interface MirrorPodFailure {
  namespace: string;
  /** The static pod's name; '' when the failure stops every mirror pod of the node. */
  name: string;
  error: string;
}

const POD_MSG = 'Failed creating a mirror pod';
const NODE_MSG = 'No need to create a mirror pod, since failed to get node info';
/** What the journal source looks for in a record before handing it over. */
export const MIRROR_LITERALS = [POD_MSG, NODE_MSG];
/** An error longer than this is cut (a webhook may answer with a whole document). */
export const MAX_ERROR = 1024;

const cut = (s: string): string => (s.length > MAX_ERROR ? `${s.slice(0, MAX_ERROR)}…` : s);
const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

/** A Go strconv.Quote body (between the quotes) -> the string. Unknown escapes are kept as written. */
export function unquoteGo(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch !== '\\' || i + 1 >= body.length) {
      out += ch;
      continue;
    }
    const e = body[i + 1];
    const hexLen = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hexLen && /^[0-9a-fA-F]+$/.test(body.slice(i + 2, i + 2 + hexLen)) && i + 2 + hexLen <= body.length) {
      out += String.fromCodePoint(parseInt(body.slice(i + 2, i + 2 + hexLen), 16));
      i += 1 + hexLen;
    } else if (e in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[e];
      i += 1;
    } else {
      out += ch;
    }
  }
  return out;
}

/** klog's key/value pairs after the message: k="quoted", k=<\n\tmulti-line\n >, or k=bare. */
export function klogPairs(s: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /([A-Za-z_][\w.-]*)=/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    let i = re.lastIndex;
    let value: string;
    if (s[i] === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      value = unquoteGo(s.slice(i + 1, j));
      i = j + 1;
    } else if (s.startsWith('<\n', i)) {
      const end = s.indexOf('\n >', i);
      const body = s.slice(i + 2, end < 0 ? s.length : end);
      value = body
        .split('\n')
        .map((l) => l.replace(/^\t/, ''))
        .join('\n');
      i = end < 0 ? s.length : end + 3;
    } else {
      const j = s.slice(i).search(/\s/);
      value = j < 0 ? s.slice(i) : s.slice(i, i + j);
      i = j < 0 ? s.length : i + j;
    }
    out.set(m[1], value);
    re.lastIndex = i;
  }
  return out;
}

function splitRef(ref: string): { namespace: string; name: string } | undefined {
  const slash = ref.indexOf('/');
  if (slash <= 0 || slash === ref.length - 1) return undefined;
  return { namespace: ref.slice(0, slash), name: ref.slice(slash + 1) };
}

function fromJson(message: string): MirrorPodFailure | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(message) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const msg = typeof doc.msg === 'string' ? doc.msg : '';
  const err = typeof doc.err === 'string' ? doc.err : '';
  if (!err) return undefined;
  if (msg.startsWith(NODE_MSG)) return { namespace: '', name: '', error: cut(err) };
  if (!msg.startsWith(POD_MSG)) return undefined;
  const pod = doc.pod as { name?: unknown; namespace?: unknown } | string | undefined;
  const ref =
    typeof pod === 'string'
      ? splitRef(pod)
      : pod && typeof pod.name === 'string' && typeof pod.namespace === 'string'
        ? { namespace: pod.namespace, name: pod.name }
        : undefined;
  return ref && { ...ref, error: cut(err) };
}

/** glog: `for "name_namespace(uid)": error` (quoted since 1.5, bare before). Pod names have no "_". */
const GLOG = /Failed creating a mirror pod for "?([a-z0-9][-a-z0-9.]*)_([a-z0-9][-a-z0-9]*)\([^)]*\)"?: ([^]*)$/;

/** The failure a kubelet line reports, or undefined when the line is not one (or not complete). */
export function parseMirrorPodFailure(message: string): MirrorPodFailure | undefined {
  const text = message.trim();
  if (text.startsWith('{')) return fromJson(text);
  const at = text.indexOf(POD_MSG) >= 0 ? text.indexOf(POD_MSG) : text.indexOf(NODE_MSG);
  if (at < 0) return undefined;
  if (text[at - 1] === '"') {
    const close = text.indexOf('"', at);
    if (close < 0) return undefined;
    const kv = klogPairs(text.slice(close + 1));
    const error = kv.get('err');
    if (!error) return undefined;
    if (text.startsWith(NODE_MSG, at)) return { namespace: '', name: '', error: cut(error) };
    const ref = splitRef(kv.get('pod') ?? '');
    return ref && { ...ref, error: cut(error) };
  }
  const g = GLOG.exec(text.slice(at));
  return g ? { namespace: g[2], name: g[1], error: cut(g[3].trim()) } : undefined;
}
