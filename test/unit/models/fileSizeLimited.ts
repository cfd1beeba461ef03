// A second process for downloadDiskErrors.test.ts: runs one download (the request as JSON in
// argv) under the file-size limit its parent set with `ulimit -f` (a disk that allows no
// larger file, as FAT32 does past 4 GB), and prints how it ended as one line of JSON.
// Run as: bash -c 'ulimit -f <blocks>; exec node --import tsx fileSizeLimited.ts <request>'
import { downloadModel, type DownloadRequest } from '../../../src/core/models/downloader';
import { ModelDownloadError } from '../../../src/core/models/errors';

const request = JSON.parse(process.argv[2]) as DownloadRequest;
downloadModel(request).then(
  () => process.stdout.write(`${JSON.stringify({ completed: true })}\n`),
  (error: unknown) => {
    const failure = error instanceof ModelDownloadError ? { code: error.code, file: error.file } : {};
    process.stdout.write(`${JSON.stringify({ ...failure, message: error instanceof Error ? error.message : String(error) })}\n`);
  },
);
