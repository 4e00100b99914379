// PortPicker: the ports bin/cluster --ports auto gives its components are distinct and avoid the ones kept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort, PortPicker } from './ports.js';

test('PortPicker never hands out a port twice, nor a reserved one', async () => {
  // A port just released is what the OS tends to offer next: reserve that one and pick many.
  const likely = await freePort();
  const picker = new PortPicker([likely]);
  const ports: number[] = [];
  for (let i = 0; i < 40; i++) ports.push(await picker.next());
  assert.equal(new Set(ports).size, ports.length, `duplicates in ${ports.join(',')}`);
  assert.ok(!ports.includes(likely), `the reserved port ${likely} was handed out`);
});
