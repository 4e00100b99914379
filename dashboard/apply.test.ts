// Unit tests for manifest parsing: documents, Lists, and the errors a visitor sees for bad input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestError, MAX_DOCUMENTS, parseManifest } from './apply.js';

describe('parseManifest', () => {
  it('reads several YAML documents and skips empty ones', () => {
    const objs = parseManifest(
      '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n',
    );
    assert.deepEqual(
      objs.map((o) => `${o.kind}/${o.metadata.name}`),
      ['ConfigMap/a', 'Secret/b'],
    );
  });

  it('reads JSON (a YAML subset) and expands a List', () => {
    const objs = parseManifest(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } }],
      }),
    );
    assert.equal(objs.length, 1);
    assert.equal(objs[0]!.kind, 'Namespace');
  });

  it('reports YAML syntax errors, non-mapping documents and empty manifests', () => {
    assert.throws(
      () => parseManifest('a: [1, 2'),
      (e: unknown) => e instanceof ManifestError && /^YAML: /.test(e.message),
    );
    assert.throws(() => parseManifest('- 1\n- 2\n'), /not a mapping/);
    assert.throws(() => parseManifest('\n---\n'), /no objects/);
  });

  it('bounds the number of objects', () => {
    const doc = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n';
    assert.equal(parseManifest(Array(MAX_DOCUMENTS).fill(doc).join('---\n')).length, MAX_DOCUMENTS);
    assert.throws(
      () =>
        parseManifest(
          Array(MAX_DOCUMENTS + 1)
            .fill(doc)
            .join('---\n'),
        ),
      /more than/,
    );
  });
});
