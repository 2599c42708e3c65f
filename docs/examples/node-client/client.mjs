// A taskctl client in Node, with capnp-es: no code of taskctl's, only the public schema
// (/usr/share/taskctl/schema, compiled with capnp-es; see README.md and docs/rpc.md).
//
// It connects to taskctld's Unix socket, asks the daemon's version, watches its own next
// task, submits `sh -c 'echo hello from node'`, waits for it, lists its tasks, and prints
// each step as one line:
//   version taskctld 0.x.y schema 2
//   submitted 7
//   event 7 queued
//   event 7 starting / running / succeeded
//   waited 7 succeeded exit 0 uid 1000
//   listed 7 uid 1000
// The uid is the daemon's view of who we are: it comes from the socket (SO_PEERCRED), never
// from a message.
//
// Usage: node client.mjs GENERATED_DIR [SOCKET]
//   GENERATED_DIR  where capnp-es wrote rpc.js and task-spec.js
//   SOCKET         default: $TASKCTL_SOCKET, else /run/taskctl/taskctl.sock
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Conn, Message } from "capnp-es";
import { Message as RpcMessage } from "capnp-es/capnp/rpc";

const [generated, socketArg] = process.argv.slice(2);
if (!generated) {
  console.error("usage: node client.mjs GENERATED_DIR [SOCKET]");
  process.exit(64);
}
const schema = await import(pathToFileURL(path.resolve(generated, "rpc.js")).href);
const { Taskctl, Watcher, SubmitRequest } = schema;
const socketPath = socketArg || process.env.TASKCTL_SOCKET || "/run/taskctl/taskctl.sock";

// Cap'n Proto's stream framing on a byte stream (what capnp's two-party vat speaks): a segment
// table (count - 1, then each segment's size in words, padded to 8 bytes), then the segments.
class SocketTransport {
  constructor(socket) {
    this.socket = socket;
    this.buffered = Buffer.alloc(0);
    this.ready = [];    // whole frames not yet asked for
    this.waiting = [];  // recvMessage() calls not yet answered
    this.closed = false;
    socket.on("data", (chunk) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      for (let frame; (frame = this.nextFrame()); ) this.deliver(frame);
    });
    const end = () => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w.reject(undefined);  // undefined: Conn stops quietly
    };
    socket.on("close", end);
    socket.on("error", end);
  }
  nextFrame() {
    const b = this.buffered;
    if (b.length < 4) return null;
    const segments = b.readUInt32LE(0) + 1;
    const header = (4 + 4 * segments + 7) & ~7;
    if (b.length < header) return null;
    let words = 0;
    for (let i = 0; i < segments; i++) words += b.readUInt32LE(4 + 4 * i);
    const length = header + 8 * words;
    if (b.length < length) return null;
    const frame = b.subarray(0, length);
    this.buffered = b.subarray(length);
    // A copy of its own: capnp-es reads the segments in place.
    return new Uint8Array(frame).buffer;
  }
  deliver(frame) {
    const message = new Message(frame, false).getRoot(RpcMessage);
    const waiter = this.waiting.shift();
    if (waiter) waiter.resolve(message);
    else this.ready.push(message);
  }
  sendMessage(message) {
    this.socket.write(new Uint8Array(message.segment.message.toArrayBuffer()));
  }
  recvMessage() {
    if (this.ready.length > 0) return Promise.resolve(this.ready.shift());
    if (this.closed) return Promise.reject(undefined);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
  close() {
    this.closed = true;
    this.socket.end();
  }
}

// Bytes into a List(Data) element: capnp-es sets a Data pointer by copying another one.
function setData(list, index, bytes) {
  const scratch = new Message().initRoot(schema.TaskView);
  scratch._initCwd(bytes.length).copyBuffer(bytes);
  list.set(index, scratch.cwd);
}
function setDataList(list, items) {
  items.forEach((item, i) => setData(list, i, Buffer.from(item)));
}

const socket = net.createConnection(socketPath);
await new Promise((resolve, reject) => {
  socket.once("connect", resolve);
  socket.once("error", reject);
});
const conn = new Conn(new SocketTransport(socket));
const taskctl = conn.bootstrap(Taskctl);

const version = await taskctl.version().promise();
console.log(`version taskctld ${version.daemonVersion} schema ${version.schemaRevision}`);

// The task: `sh -c 'echo hello from node'`, in /tmp, with a PATH.
const submitted = await taskctl
  .submit((params) => {
    const spec = params._initRequest()._initSpec();
    setDataList(spec._initArgv(3), ["sh", "-c", "echo hello from node"]);
    setDataList(spec._initEnv(1), ["PATH=/usr/bin:/bin"]);
    spec._initCwd(4).copyBuffer(Buffer.from("/tmp"));
    spec.umask = 0o022;
  })
  .promise();
const id = submitted.id;
console.log(`submitted ${id}`);

// Its events, replayed from the store (from 1: the oldest kept) then live, until it ends. The
// daemon sends a batch only while fewer than a few are unanswered: returning is the credit.
const terminal = new Set(["succeeded", "failed", "cancelled"]);
let ended;
const endedSeen = new Promise((resolve) => (ended = resolve));
class PrintingWatcher {
  async started(params) {}
  async events(params) {
    for (const e of params.events) {
      console.log(`event ${e.taskId} ${e.to}`);
      if (e.taskId === id && terminal.has(e.to)) ended();
    }
  }
  async progress(params) {}
  async fellBehind(params) {
    console.log(`fell behind: watch again from ${params.resumeFrom}`);
  }
}
taskctl.watch((params) => {
  params.from = 1n;
  params._initIds(1).set(0, id);
  params.watcher = new Watcher.Server(new PrintingWatcher()).client();
});

const waited = await taskctl.wait((params) => (params.id = id)).promise();
const task = waited.task;
console.log(`waited ${task.id} ${task.state} exit ${task.exitStatus} uid ${task.uid}`);
await endedSeen;

const listed = await taskctl.list((params) => (params.pageSize = 100)).promise();
for (const t of listed.tasks) {
  if (t.id === id) console.log(`listed ${t.id} uid ${t.uid}`);
}
conn.shutdown();
process.exit(task.state === "succeeded" ? 0 : 1);
