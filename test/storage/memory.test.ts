import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { createStorage, MemoryStorage } from '../../src/storage/index.js';
import { storageContract } from './contract.js';

storageContract('memory', { open: async () => createStorage('memory', {}) });

describe('memory storage', () => {
  it('accepts no options', async () => {
    assert.ok((await createStorage('memory', undefined)) instanceof MemoryStorage);
    await assert.rejects(createStorage('memory', { root_path: '/x' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.key, 'storage.options.root_path');
      return true;
    });
  });

  it('keeps separate instances separate', async () => {
    const a = await createStorage('memory', {});
    const b = await createStorage('memory', {});
    await a.store('x', Buffer.from('1'));
    assert.deepEqual(await b.list(''), []);
  });
});
