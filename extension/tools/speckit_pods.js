// SPDX-License-Identifier: Apache-2.0
// SPDX-FileCopyrightText: speckit-pods contributors
//
// speckit_pods.js: the two OpenCode custom tools of the speckit-pods subagent, installed
// as .opencode/tool/speckit_pods.js by install-agent.sh. OpenCode 1.18.33 names a tool
// module's named exports <file>_<export>: `speckit_pods_spawn` and `speckit_pods_follow`.
//
// The subagent is steered by text a hijacked agent writes (the pod's log), so it has no
// shell: each tool checks its arguments, then runs ONE extension wrapper with a fixed
// argument list (no shell, nothing the model writes is parsed by bash), from the project
// root, and returns its output (stdout and stderr in the order they arrived, the tail if
// long) and a last line `exit code: N`. A refused argument runs nothing.
//
// Plain module, no imports but Node's (Bun runs it inside opencode): `args` are JSON Schema
// objects, not zod, so the tool needs no `@opencode-ai/plugin` package and works offline.
// OpenCode then marks every argument required and validates none: the checks are here.

import { spawn as start } from "node:child_process";
import { existsSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// <project>/.opencode/tool/speckit_pods.js -> <project>
const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const WRAPPERS = ".specify/extensions/pods/scripts/bash";
const FOLLOW = ["--mark-done", "--verify-remote", "--no-color", "--timeout", "9m"];
// runtime/tasks/syntax.py's task IDs (T001, T003a, T004.1), bounded
const TASK_ID = /^T\d{1,6}(?:[A-Za-z]|\.\d{1,3})?$/;
// runtime/spawn/names.py: sp-<feature>-<task>-<hash>, a DNS-1123 label
const POD = /^sp-[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
// relative, segments that start with neither `.` nor `-` (so no `..`), ends in tasks.md
const TASKS = /^(?:[A-Za-z0-9_][A-Za-z0-9_.+@-]*\/)*(?:[A-Za-z0-9_][A-Za-z0-9_.+@-]*)?tasks\.md$/;
// below OpenCode's own cut (2000 lines, 51200 bytes), which would save the rest to a file
const MAX_LINES = 1000;
const MAX_BYTES = 40000;
// tail-logs.sh stops itself after --timeout 9m; neither wrapper should outlive this
const DEADLINE_MS = 12 * 60 * 1000;

/** `ERROR: ...` for an argument the tool refuses: nothing runs. */
function refused(reason) {
  return { title: "refused", output: `ERROR: ${reason}\nnothing was run`, metadata: {} };
}

/** The argument object with exactly the keys allowed, or an error string. */
function checkKeys(args, allowed) {
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    return "the arguments must be a JSON object";
  }
  const extra = Object.keys(args).filter((key) => !allowed.includes(key));
  if (extra.length) return `unknown argument(s): ${extra.map((k) => JSON.stringify(k)).join(", ")}`;
  return "";
}

/** The tasks file's path if it is a tasks.md file inside the project, else an error. */
function checkTasks(tasks) {
  if (typeof tasks !== "string" || tasks.length > 512 || !TASKS.test(tasks)) {
    return [
      "",
      "tasks must be a path relative to the project root ending in tasks.md " +
        '(e.g. specs/001-photo-albums/tasks.md), or "" for the default',
    ];
  }
  const file = path.join(PROJECT, tasks);
  let real;
  try {
    real = realpathSync(file);
  } catch {
    return ["", `no such file in the project: ${tasks}`];
  }
  const root = realpathSync(PROJECT);
  if (!real.startsWith(root + path.sep) || !statSync(real).isFile()) {
    return ["", `${tasks} is not a file inside the project`];
  }
  return [tasks, ""];
}

/** Keep the last MAX_LINES lines and MAX_BYTES bytes of `text`; say what was cut. */
function tail(text) {
  let lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  let cut = Math.max(0, lines.length - MAX_LINES);
  lines = lines.slice(cut);
  while (lines.length && Buffer.byteLength(lines.join("\n")) > MAX_BYTES) {
    lines.shift();
    cut += 1;
  }
  return cut ? [`[${cut} earlier lines cut]`, ...lines] : lines;
}

/** Run WRAPPERS/<script> with `argv` (no shell) from the project root. */
function run(script, argv, abort, title) {
  const program = path.join(PROJECT, WRAPPERS, script);
  if (!existsSync(program)) {
    return Promise.resolve(
      refused(`${WRAPPERS}/${script} not found in ${PROJECT}: is the pods extension installed?`),
    );
  }
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    let why = "";
    let done = false;
    const child = start(program, argv, {
      cwd: PROJECT,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group: a kill reaches speckit-pods too
    });
    const kill = (reason) => {
      if (why) return;
      why = reason;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    };
    const keep = (chunk) => {
      chunks.push(chunk);
      size += chunk.length;
      while (chunks.length > 1 && size - chunks[0].length > 4 * MAX_BYTES) {
        size -= chunks.shift().length; // bounded memory; tail() cuts the rest
      }
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const timer = setTimeout(() => kill(`killed after ${DEADLINE_MS / 60000} minutes`), DEADLINE_MS);
    const onAbort = () => kill("killed: the session was aborted");
    abort?.addEventListener?.("abort", onAbort, { once: true });
    const finish = (status) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      abort?.removeEventListener?.("abort", onAbort);
      const lines = tail(Buffer.concat(chunks).toString("utf8"));
      lines.push(why ? `exit code: none (${why})` : `exit code: ${status}`);
      resolve({ title, output: lines.join("\n"), metadata: { exit: status } });
    };
    child.on("error", (err) => {
      keep(Buffer.from(`ERROR: could not run ${WRAPPERS}/${script}: ${err.code ?? err.message}\n`));
      finish(127);
    });
    child.on("close", (code, signal) => finish(code ?? `none (signal ${signal})`));
  });
}

export const spawn = {
  description:
    "Start the pod of ONE spec-kit task: runs `.specify/extensions/pods/scripts/bash/" +
    "spawn-pod.sh --task-id <task_id> [--tasks <tasks>]` from the project root and returns " +
    "its output, then a last line `exit code: N`. On success the output holds the pod name " +
    "(sp-...) for speckit_pods_follow.",
  args: {
    task_id: { type: "string", description: "the task's ID, e.g. T012" },
    tasks: {
      type: "string",
      description:
        'the tasks file, relative to the project root (e.g. specs/001-photo-albums/tasks.md); "" when the prompt names none',
    },
  },
  async execute(args, ctx) {
    const bad = checkKeys(args, ["task_id", "tasks"]);
    if (bad) return refused(bad);
    const { task_id: taskId, tasks = "" } = args;
    if (typeof taskId !== "string" || !TASK_ID.test(taskId)) {
      return refused("task_id must be a task ID like T012, T012a or T012.1");
    }
    const argv = ["--task-id", taskId];
    if (tasks !== "") {
      const [file, error] = checkTasks(tasks);
      if (error) return refused(error);
      argv.push("--tasks", file);
    }
    return run("spawn-pod.sh", argv, ctx?.abort, `spawn ${taskId}`);
  },
};

export const follow = {
  description:
    "Follow a pod to its end, marking its task done on success: runs `.specify/extensions/" +
    "pods/scripts/bash/tail-logs.sh <pod> --mark-done --verify-remote --no-color --timeout " +
    "9m` from the project root and returns its output (the pod's log, its tail if long), " +
    "then a last line `exit code: N`. No RESULT line: the pod is still running, call again.",
  args: {
    pod: { type: "string", description: "the pod name speckit_pods_spawn printed (sp-...)" },
  },
  async execute(args, ctx) {
    const bad = checkKeys(args, ["pod"]);
    if (bad) return refused(bad);
    const { pod } = args;
    if (typeof pod !== "string" || pod.length > 63 || !POD.test(pod)) {
      return refused("pod must be a pod name like sp-001-photo-albums-t012-3f9a2c");
    }
    return run("tail-logs.sh", [pod, ...FOLLOW], ctx?.abort, `follow ${pod}`);
  },
};
