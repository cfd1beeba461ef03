/** A file-system error in words, for a message that already names the path: "ENOENT: no such file or directory, open '/x'" is both less and more. */
export function fileErrorInWords(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'there is no such file';
    case 'EISDIR':
      return 'it is a folder, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a part of its path is a file, not a folder';
    default:
      return (error as Error)?.message ?? String(error);
  }
}
