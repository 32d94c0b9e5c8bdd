/**
 * Topic ↔ routing-key translations, remembered: a topic is published to and delivered from
 * many times (and fan-out delivers one message to many subscribers), so each translation, its
 * UTF-8 bytes and its validity are worked out once per topic rather than once per message.
 */
import { routingKeyToTopic, topicNameError, topicToRoutingKey } from './topic.js';

export interface TopicInfo {
  /** The MQTT topic name of a routing key. */
  readonly topic: string;
  /** The topic, UTF-8 encoded, as a PUBLISH carries it. */
  readonly bytes: Buffer;
  /** Whether it is a valid MQTT topic name (an AMQP publisher's key may not translate to one). */
  readonly valid: boolean;
}

/** Entries kept per direction; past it the cache starts over (topics in use come back quickly). */
const LIMIT = 8192;

export class TopicCache {
  private readonly byKey = new Map<string, TopicInfo>();
  private readonly byTopic = new Map<string, string>();

  /** The MQTT side of a routing key. */
  forKey(routingKey: string): TopicInfo {
    let info = this.byKey.get(routingKey);
    if (info === undefined) {
      const topic = routingKeyToTopic(routingKey);
      info = { topic, bytes: Buffer.from(topic, 'utf8'), valid: topicNameError(topic) === undefined };
      if (this.byKey.size >= LIMIT) this.byKey.clear();
      this.byKey.set(routingKey, info);
    }
    return info;
  }

  /** The routing key of an MQTT topic name. */
  keyFor(topic: string): string {
    let key = this.byTopic.get(topic);
    if (key === undefined) {
      key = topicToRoutingKey(topic);
      if (this.byTopic.size >= LIMIT) this.byTopic.clear();
      this.byTopic.set(topic, key);
    }
    return key;
  }
}
