/** ping: answered with pong, echoing the id (an application-level round trip). */
import type { PingRequest } from '../codec/index.js';
import { pongJson } from '../map.js';
import type { WsContext } from './context.js';

export function handlePing(c: WsContext, r: PingRequest): void {
  c.sendText(pongJson(r.id));
}
