// The download error for a file Windows will not let the downloader replace: it says the
// file may be in use and what to do, not to check the folder's permissions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileSystemError } from '../../../src/core/models/downloader';

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall}`), { code, syscall, path: 'C:\\models\\m\\onnx\\model.onnx' });
}

for (const [code, syscall] of [
  ['EPERM', 'rename'],
  ['EBUSY', 'rename'],
  ['EPERM', 'unlink'],
] as const) {
  test(`win32: ${code} on ${syscall} says the file may be in use and to close it, then download again`, () => {
    const error = fileSystemError(errno(code, syscall), 'C:\\models\\m', 'onnx/model.onnx', 'win32');
    assert.ok(error);
    assert.match(error.message, /may be in use/);
    assert.match(error.message, /small model.*antivirus.*another program/);
    assert.match(error.message, /Close .*download again/);
    assert.doesNotMatch(error.message, /permissions/);
    assert.equal(error.file, 'onnx/model.onnx');
  });
}

test('win32: EPERM on open is still a permissions problem', () => {
  assert.match(fileSystemError(errno('EPERM', 'open'), 'C:\\models\\m', 'config.json', 'win32')!.message, /Check the folder's permissions/);
});

test('linux: EPERM on rename is a permissions problem, as before', () => {
  assert.match(fileSystemError(errno('EPERM', 'rename'), '/models/m', 'config.json', 'linux')!.message, /Check the folder's permissions/);
});
