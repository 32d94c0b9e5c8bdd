/**
 * Topic aliases (MQTT 5 section 3.3.2.3.4), both ways; they live as long as the connection
 * [MQTT-3.3.2-7]. Maps are made on first use: most clients use none.
 */
import { SwitchyardError } from '../../errors/index.js';

export class TopicAliases {
  private inbound: Map<number, string> | undefined;
  private outbound: Map<string, number> | undefined;

  constructor(
    /** The Topic Alias Maximum the broker announced: inbound aliases go up to it. */
    private readonly inboundMaximum: number,
    /** The client's Topic Alias Maximum (0 = none) [MQTT-3.1.2-26] [MQTT-3.1.2-27]. */
    private readonly outboundMaximum: number,
  ) {}

  /**
   * The topic of an inbound PUBLISH with a Topic Alias: an empty topic uses the alias, a topic
   * sets it. An alias of 0 or above the maximum is invalid [MQTT-3.3.2-8] [MQTT-3.3.2-12].
   */
  resolve(topic: string, alias: number): string {
    if (alias === 0 || alias > this.inboundMaximum) {
      throw new SwitchyardError('TOPIC_ALIAS_INVALID', `topic alias ${alias} out of range`);
    }
    if (topic !== '') {
      (this.inbound ??= new Map()).set(alias, topic);
      return topic;
    }
    const known = this.inbound?.get(alias);
    if (known === undefined) throw new SwitchyardError('PROTOCOL_ERROR', `unknown topic alias ${alias}`);
    return known;
  }

  /**
   * The alias for an outbound topic: the one in use (> 0), a new one to commit() once the
   * packet is known to go (< 0, negated), or 0 when none is free or the client takes none.
   */
  outboundFor(topic: string): number {
    if (this.outboundMaximum === 0) return 0;
    const aliases = (this.outbound ??= new Map());
    const alias = aliases.get(topic);
    if (alias !== undefined) return alias;
    return aliases.size < this.outboundMaximum ? -(aliases.size + 1) : 0;
  }

  commit(topic: string, alias: number): void {
    this.outbound?.set(topic, alias);
  }
}
