// What `lbctl maps dump --json` prints: the pinned maps decoded, section by section.

export const DUMP_SECTIONS = ['services', 'backends', 'maglev', 'conntrack', 'nat', 'sockets'] as const;
export type DumpSection = (typeof DUMP_SECTIONS)[number];

export interface ServiceDump {
  /** "namespace/name:port/PROTO" */
  service: string;
  frontend: string;
  type: string;
  svcId: number;
  maglevSize: number;
  /** sessionAffinity ClientIP timeout in seconds, 0 for none */
  affinitySeconds: number;
  backends: string[];
}
export interface BackendDump {
  id: number;
  backend: string;
  protocol: string;
}
export interface MaglevDump {
  svcId: number;
  size: number;
  /** backend -> slots it owns */
  slots: Record<string, number>;
}
export interface FlowDump {
  protocol: string;
  client: string;
  frontend: string;
  backend: string;
  expiresInS: number;
  closing: boolean;
  /** "IP:PORT" the flow leaves with towards a backend on another node (SNAT), if any */
  snat?: string;
}
/** A SNATed flow as its replies arrive: backend -> snat; sent back to client, from frontend. */
export interface NatDump {
  protocol: string;
  backend: string;
  snat: string;
  client: string;
  frontend: string;
  expiresInS: number;
  closing: boolean;
}
/** A socket the socket programs balanced: it talks to `backend`, its application sees `frontend`. */
export interface SocketDump {
  cookie: string;
  protocol: string;
  service: string;
  frontend: string;
  backend: string;
}
export interface Dump {
  services?: ServiceDump[];
  backends?: BackendDump[];
  maglev?: MaglevDump[];
  conntrack?: FlowDump[];
  nat?: NatDump[];
  /** the SNAT table's capacity, beside `nat` */
  natCapacity?: number;
  sockets?: SocketDump[];
}
