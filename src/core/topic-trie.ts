/**
 * Topic-exchange matching with a trie over the words of the binding keys (`*` = exactly one word,
 * `#` = zero or more words), so routing cost follows the depth of the key and the number of
 * matching branches, not the number of bindings.
 */

interface Node<T> {
  words: Map<string, Node<T>> | undefined;
  star: Node<T> | undefined;
  hash: Node<T> | undefined;
  values: Set<T> | undefined;
  /** Values stored at or below this node; a node with 0 is pruned. */
  size: number;
}

function newNode<T>(): Node<T> {
  return { words: undefined, star: undefined, hash: undefined, values: undefined, size: 0 };
}

/** Splits a routing or binding key into words as RabbitMQ does: the empty key has no words. */
export function splitKey(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

export class TopicTrie<T> {
  private readonly root: Node<T> = newNode();

  get size(): number {
    return this.root.size;
  }

  add(bindingKey: string, value: T): boolean {
    const path: Node<T>[] = [this.root];
    let node = this.root;
    for (const w of splitKey(bindingKey)) {
      let next: Node<T> | undefined;
      if (w === '*') next = node.star ??= newNode();
      else if (w === '#') next = node.hash ??= newNode();
      else {
        node.words ??= new Map();
        next = node.words.get(w);
        if (next === undefined) {
          next = newNode();
          node.words.set(w, next);
        }
      }
      node = next;
      path.push(node);
    }
    node.values ??= new Set();
    if (node.values.has(value)) return false;
    node.values.add(value);
    for (const n of path) n.size++;
    return true;
  }

  remove(bindingKey: string, value: T): boolean {
    const words = splitKey(bindingKey);
    const path: Node<T>[] = [this.root];
    let node: Node<T> | undefined = this.root;
    for (const w of words) {
      node = w === '*' ? node.star : w === '#' ? node.hash : node.words?.get(w);
      if (node === undefined) return false;
      path.push(node);
    }
    if (node.values === undefined || !node.values.delete(value)) return false;
    for (const n of path) n.size--;
    // Prune empty branches so a churn of bindings leaves no garbage behind.
    for (let i = words.length; i > 0; i--) {
      const child = path[i]!;
      if (child.size > 0) break;
      const parent = path[i - 1]!;
      const w = words[i - 1]!;
      if (w === '*') parent.star = undefined;
      else if (w === '#') parent.hash = undefined;
      else parent.words?.delete(w);
    }
    return true;
  }

  /** Adds every value whose binding key matches `routingKey` to `out`. */
  match(routingKey: string, out: Set<T>): void {
    if (this.root.size === 0) return;
    matchNode(this.root, splitKey(routingKey), 0, out);
  }
}

function matchNode<T>(node: Node<T>, words: string[], i: number, out: Set<T>): void {
  if (i === words.length) {
    if (node.values !== undefined) for (const v of node.values) out.add(v);
  } else {
    const w = words[i]!;
    const exact = node.words?.get(w);
    if (exact !== undefined) matchNode(exact, words, i + 1, out);
    if (node.star !== undefined) matchNode(node.star, words, i + 1, out);
  }
  const hash = node.hash;
  if (hash !== undefined) {
    // `#` swallows zero or more words: try every remaining suffix.
    for (let j = i; j <= words.length; j++) matchNode(hash, words, j, out);
  }
}
