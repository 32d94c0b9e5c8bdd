import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { test } from 'node:test';
import { peerCommonName } from './peer-name.js';

/** The parts of a TLSSocket peerCommonName reads. */
const tlsLike = (authorized: boolean, subject: Record<string, string | string[]> | undefined) => ({
  authorized,
  getPeerCertificate: () => (subject === undefined ? {} : { subject }),
});

test('peer name: the CN of a verified certificate, nothing otherwise', () => {
  assert.equal(peerCommonName(tlsLike(true, { CN: 'alice', O: 'x' })), 'alice');
  assert.equal(peerCommonName(tlsLike(false, { CN: 'alice' })), undefined, 'not verified');
  assert.equal(peerCommonName(tlsLike(true, { O: 'x' })), undefined, 'no CN');
  assert.equal(peerCommonName(tlsLike(true, { CN: ['a', 'b'] })), undefined, 'two CNs');
  assert.equal(peerCommonName(tlsLike(true, { CN: '' })), undefined);
  assert.equal(peerCommonName(tlsLike(true, undefined)), undefined, 'no certificate');
  assert.equal(peerCommonName(new Socket()), undefined, 'plain TCP');
  assert.equal(peerCommonName(undefined), undefined);
});
