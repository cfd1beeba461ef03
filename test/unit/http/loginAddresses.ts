/** Addresses the URL parser reads a login with a password in, written as a user may write them: the password holds SECRET. */
export const SECRET = 'ssw0rd-Secret';

export const ADDRESSES_WITH_PASSWORD = [
  `https://alice:p@${SECRET}@gw.example/v1`,
  `http:alice:p@${SECRET}@127.0.0.1:8000/v1`,
  `http:\\\\alice:p@${SECRET}@127.0.0.1:8000/v1`,
  ` https:/alice:p@${SECRET}@gw.example/v1`,
  `ht\ttps://alice:p@${SECRET}@gw.example/v1`,
  `https://alice:p@${SECRET}@gw.example?x=1`,
];
