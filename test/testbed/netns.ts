// Commands in network namespaces. We enter only the network namespace (nsenter --net),
// never `ip netns exec`: that also gives a private mount namespace, in which a bpffs
// pin would vanish with the process.
import { execFileSync, type ChildProcess } from 'node:child_process';

export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

export function nsArgs(ns: string, cmd: string, args: string[]): string[] {
  return [`--net=/run/netns/${ns}`, cmd, ...args];
}

export function inNs(ns: string, cmd: string, args: string[]): string {
  return sh('nsenter', nsArgs(ns, cmd, args));
}

/** Resolves with the first stdout line that matches, rejects on exit or timeout. */
export function waitForLine(proc: ChildProcess, match: RegExp, timeoutMs: number, stream: 'stdout' | 'stderr' = 'stdout'): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      const hit = lines.find((l) => match.test(l));
      if (hit) done(() => resolve(hit));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`process exited (${code}) before printing ${match}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${match}`))), timeoutMs);
    const done = (f: () => void) => {
      clearTimeout(timer);
      proc[stream]?.off('data', onData);
      proc.off('exit', onExit);
      f();
    };
    proc[stream]?.on('data', onData);
    proc.on('exit', onExit);
  });
}
