// The node's IPv4 addresses when --node-ip is not given: those of the --devices.
import os from 'node:os';

export function deviceIPv4s(devices: string[]): string[] {
  const ifs = os.networkInterfaces();
  return devices.flatMap((d) => (ifs[d] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address));
}
